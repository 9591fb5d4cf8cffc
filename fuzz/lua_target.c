/*
 * The generic Lua fuzz target: one binary per harness file
 * fuzz/harness/<name>.lua (compiled with -DISCARD_HARNESS="...").  The
 * harness defines fuzz(bytes), which drives a pure-Lua part of iscard with
 * the input and raises only when the part broke its contract; such an error
 * aborts, which libFuzzer reports as a crash.  A new parser gets a target
 * by adding its harness file, a folder of starting inputs (start/) and its name to
 * FUZZ_LUA_TARGETS in the Makefile.
 */
#include "lua_embed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *state;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (state == NULL) state = lua_embed_open(ISCARD_HARNESS);
  lua_embed_run(state, data, size);
  /* a full collection now and then: finalizers and weak tables get their
   * share of the inputs, and the heap stays bounded */
  if (lua_gc(state, LUA_GCCOUNT, 0) > 64 * 1024)
    lua_gc(state, LUA_GCCOLLECT, 0);
  return 0;
}
