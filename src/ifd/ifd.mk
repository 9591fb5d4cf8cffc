# The virtual reader: a pcscd reader driver for tests (src/ifd/, README:
# The virtual reader), included by the Makefile.
#   make ifd          build/ifd/libifd-iscard.so
#   make install-ifd  install it under $(DESTDIR)$(IFD_DIR), print the
#                     reader.conf entry that loads it
IFD_SRCS  = src/ifd/ifd_iscard.c src/ifd/pin.c src/ifd/ctl.c
IFD_LIB   = $(BUILD)/ifd/libifd-iscard.so
IFD_DIR  ?= $(PREFIX)/lib/pcsc/drivers/serial
IFD_PORT ?= 36000

.PHONY: ifd install-ifd lint-ifd
ifd: $(IFD_LIB)

$(IFD_LIB): $(IFD_SRCS) src/ifd/vreader.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden $(PCSC_CFLAGS) $(LIBFLAG) -o $@ $(IFD_SRCS) -pthread

install-ifd: ifd
	install -d $(DESTDIR)$(IFD_DIR)
	install -m 755 $(IFD_LIB) $(DESTDIR)$(IFD_DIR)/libifd-iscard.so
	@echo "# reader.conf entry (e.g. /etc/reader.conf.d/iscard-vreader), then restart pcscd:"
	@echo 'FRIENDLYNAME "iscard Virtual Reader"'
	@echo 'LIBPATH      $(IFD_DIR)/libifd-iscard.so'
	@echo 'DEVICENAME   "127.0.0.1:$(IFD_PORT);slots=1;pinpad=1;control=/run/iscard-vreader"'

# The specs and the demo run the test bed, which loads the driver.
test valgrind asan test-all demo soak flake-check: ifd

# make lint: the driver's C files too
FORMAT_FILES += $(wildcard src/ifd/*.c src/ifd/*.h)
lint: lint-ifd
lint-ifd:
	@echo "clang-tidy $(IFD_SRCS)"; \
	out=$$(clang-tidy --quiet $(IFD_SRCS) -- -std=c99 $(PCSC_CFLAGS) 2>&1); \
	rc=$$?; printf '%s\n' "$$out" | grep -v -E '^[0-9]+ warnings? generated\.$$'; exit $$rc

# the fuzz target's sources (FUZZ_C_TARGETS has its name)
$(FUZZ_BUILD)/vreader_parsers $(REPLAY_BUILD)/vreader_parsers: src/ifd/pin.c src/ifd/ctl.c src/ifd/vreader.h

# make bench-vreader: 16 slots with 20 ms cards against one (bench/vreader_farm.lua)
.PHONY: bench-vreader
bench-vreader: ifd
	$(MAKE) all
	LUA=$(LUA) spec/support/testbed $(LUA) bench/vreader_farm.lua

# make ifd-valgrind: the virtual reader's specs with pcscd itself (and so
# the driver inside it) under memcheck; fails on any memory error and on a
# definite leak through the driver (src/ifd/vg-check.sh; logs in
# build/ifd/valgrind/).
IFD_SPECS = spec/bed/vreader_spec.lua spec/bed/vreader_unplug_spec.lua spec/bed/vreader_farm_spec.lua
.PHONY: ifd-valgrind
ifd-valgrind: ifd all
	rm -rf $(BUILD)/ifd/valgrind && mkdir -p $(BUILD)/ifd/valgrind
	ISCARD_PCSCD_WRAP="valgrind --leak-check=full --errors-for-leak-kinds=definite --log-file=$(CURDIR)/$(BUILD)/ifd/valgrind/pcscd-%p.log" \
	  LUA=$(LUA) spec/support/testbed sh spec/support/run-busted $(LUA) $(IFD_SPECS)
	@sh src/ifd/vg-check.sh $(BUILD)/ifd/valgrind/*.log && \
	  echo "ifd-valgrind: $$(ls $(BUILD)/ifd/valgrind/*.log | wc -l) pcscd run(s) under memcheck: no error, nothing of the driver lost"

# make ifd-asan: the virtual reader's specs with the driver built by clang
# under AddressSanitizer and UndefinedBehaviorSanitizer, loaded by pcscd with
# the ASan runtime preloaded; fails on any report (logs in
# build/ifd/asan/). Leaks are ifd-valgrind's job: pcscd 1.9.9 loses a few
# bytes of its own, which LeakSanitizer would count against the run.
IFD_ASAN_LIB = $(BUILD)/ifd-asan/libifd-iscard.so
.PHONY: ifd-asan
ifd-asan: all
	@mkdir -p $(BUILD)/ifd-asan && rm -rf $(BUILD)/ifd/asan && mkdir -p $(BUILD)/ifd/asan
	$(ASAN_CC) $(WARN) $(ASAN_CFLAGS) -fPIC -fvisibility=hidden $(PCSC_CFLAGS) -shared -o $(IFD_ASAN_LIB) $(IFD_SRCS) -pthread
	ISCARD_IFD_LIB=$(CURDIR)/$(IFD_ASAN_LIB) \
	ISCARD_PCSCD_WRAP="env LD_PRELOAD=$$($(ASAN_CC) -print-file-name=libclang_rt.asan-$$(uname -m).so) ASAN_OPTIONS=detect_leaks=0:log_path=$(CURDIR)/$(BUILD)/ifd/asan/pcscd UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/$(BUILD)/ifd/asan/pcscd-ubsan" \
	  LUA=$(LUA) spec/support/testbed sh spec/support/run-busted $(LUA) $(IFD_SPECS); rc=$$?; \
	if ls $(BUILD)/ifd/asan/* >/dev/null 2>&1; then cat $(BUILD)/ifd/asan/*; echo "ifd-asan: sanitizer reports (above)"; exit 1; fi; \
	[ $$rc -eq 0 ] && echo "ifd-asan: the driver under ASan+UBSan in pcscd: no report"
