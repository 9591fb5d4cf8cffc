rockspec_format = "3.0"
package = "iscard"
version = "scm-1"
source = {
   url = "git+https://example.invalid/iscard.git",
}
description = {
   summary = "Smart cards from Lua: the ISCard, ISCardCmd and ISCardISO7816 interfaces on PC/SC",
   detailed = [[
iscard opens and manages connections to smart cards through PC/SC (pcsc-lite,
WinSCard, PCSC.framework) with the interface of Windows' ISCard, ISCardCmd and
ISCardISO7816: attach, lock, transact, release; APDU builders for ISO 7816-4 with
automatic T=0 61xx/6Cxx handling, extended length and command chaining; and a
scriptable virtual smart card for the vpcd reader driver.
]],
   license = "MIT",
   labels = { "smartcard", "pcsc", "apdu", "iso7816" },
}
dependencies = {
   "lua >= 5.1",
}
external_dependencies = {
   platforms = {
      unix = { PCSC = { header = "PCSC/winscard.h", library = "pcsclite" } },
      macosx = { },
      windows = { },
   },
}
build = {
   type = "builtin",
   modules = {
      ["iscard.core"] = {
         sources = { "src/iscard_core.c" },
         incdirs = { "$(PCSC_INCDIR)/PCSC" },
         libdirs = { "$(PCSC_LIBDIR)" },
         libraries = { "pcsclite" },
      },
      ["iscard.vcard_io"] = { sources = { "src/vcard_io.c" } },
      ["iscard"] = "lua/iscard/init.lua",
      ["iscard.cmd"] = "lua/iscard/cmd.lua",
      ["iscard.iso7816"] = "lua/iscard/iso7816.lua",
      ["iscard.sw"] = "lua/iscard/sw.lua",
      ["iscard.transaction"] = "lua/iscard/transaction.lua",
      ["iscard.util"] = "lua/iscard/util.lua",
      ["iscard.vcard"] = "lua/iscard/vcard.lua",
   },
   install = {
      bin = { iscard = "bin/iscard" },
   },
   platforms = {
      windows = {
         modules = {
            ["iscard.core"] = {
               sources = { "src/iscard_core.c" },
               libraries = { "winscard" },
            },
            -- vpcd and the virtual card are POSIX-only
            ["iscard.vcard_io"] = false,
         },
      },
      macosx = {
         modules = {
            ["iscard.core"] = {
               sources = { "src/iscard_core.c" },
               -- PCSC.framework: headers <PCSC/winscard.h>, linked with -framework PCSC
               incdirs = { "/System/Library/Frameworks/PCSC.framework/Headers" },
               libraries = { },
               ldflags = { "-framework", "PCSC" },
            },
         },
      },
   },
}
