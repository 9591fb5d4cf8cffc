/*
 * A main for the fuzz targets outside libFuzzer: feeds each file named on
 * the command line to LLVMFuzzerTestOneInput once.  `make test` builds the
 * targets with it and the plain compiler, and spec/unit/fuzz_regress_spec.lua
 * replays every starting input and every kept finding (fuzz/<target>/regress/)
 * through the same code the fuzzer ran.  Exit 0: no input crashed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    uint8_t *buf;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
      perror(argv[i]);
      return 2;
    }
    buf = (uint8_t *)malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
      perror(argv[i]);
      return 2;
    }
    fclose(f);
    (void)LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
  }
  printf("%d input(s) replayed\n", argc - 1);
  return 0;
}
