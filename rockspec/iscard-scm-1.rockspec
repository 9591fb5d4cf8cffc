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
Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT.
]],
   license = "MIT",
   labels = { "smartcard", "pcsc", "apdu", "iso7816" },
}
dependencies = {
   "lua >= 5.1",
   -- the iscard command's option parser (Debian: lua-argparse)
   "argparse >= 0.6",
}

-- pcsc-lite (Debian: libpcsclite-dev) on the Unix systems. Windows (WinSCard)
-- and macOS (PCSC.framework) have PC/SC in the system; macOS counts as "unix"
-- and "bsd" to LuaRocks, so the Unix systems are named one by one.
local pcsclite = { PCSC = { header = "PCSC/winscard.h", library = "pcsclite" } }
external_dependencies = {
   platforms = {
      linux = pcsclite,
      freebsd = pcsclite,
      openbsd = pcsclite,
      netbsd = pcsclite,
      cygwin = pcsclite,
      solaris = pcsclite,
   },
}

build = {
   type = "builtin",
   modules = {
      -- vcard_io: the vpcd client of the virtual card (POSIX sockets)
      ["iscard.vcard_io"] = "src/vcard_io.c",
   },
   install = {
      -- (builtin also copies lua/ by itself; the list is for the macOS
      -- command build, and names the same destinations)
      lua = {
         ["iscard.init"] = "lua/iscard/init.lua",
         ["iscard.cmd"] = "lua/iscard/cmd.lua",
         ["iscard.iso7816"] = "lua/iscard/iso7816.lua",
         ["iscard.sw"] = "lua/iscard/sw.lua",
         ["iscard.transaction"] = "lua/iscard/transaction.lua",
         ["iscard.util"] = "lua/iscard/util.lua",
         ["iscard.errclass"] = "lua/iscard/errclass.lua",
         ["iscard.vcard"] = "lua/iscard/vcard.lua",
         ["iscard.vreader"] = "lua/iscard/vreader.lua",
         ["iscard.part10"] = "lua/iscard/part10.lua",
         ["iscard.attributes"] = "lua/iscard/attributes.lua",
         ["iscard.reader"] = "lua/iscard/reader.lua",
         ["iscard.atr"] = "lua/iscard/atr.lua",
         ["iscard.tlv"] = "lua/iscard/tlv.lua",
         ["iscard.channel"] = "lua/iscard/channel.lua",
         ["iscard.monitor"] = "lua/iscard/monitor.lua",
         ["iscard.card"] = "lua/iscard/card.lua",
         ["iscard.errors"] = "lua/iscard/errors.lua",
         ["iscard.loop"] = "lua/iscard/loop.lua",
         ["iscard.loop.cqueues"] = "lua/iscard/loop/cqueues.lua",
         ["iscard.loop.luv"] = "lua/iscard/loop/luv.lua",
         ["iscard.loop.interruptible"] = "lua/iscard/loop/interruptible.lua",
         ["iscard.cli.init"] = "lua/iscard/cli/init.lua",
         ["iscard.cli.common"] = "lua/iscard/cli/common.lua",
         ["iscard.cli.parse"] = "lua/iscard/cli/parse.lua",
         ["iscard.cli.readers"] = "lua/iscard/cli/readers.lua",
         ["iscard.cli.send"] = "lua/iscard/cli/send.lua",
         ["iscard.cli.info"] = "lua/iscard/cli/info.lua",
         ["iscard.cli.script"] = "lua/iscard/cli/script.lua",
         ["iscard.cli.atr"] = "lua/iscard/cli/atr.lua",
         ["iscard.cli.monitor"] = "lua/iscard/cli/monitor.lua",
         ["iscard.cli.wait"] = "lua/iscard/cli/wait.lua",
         ["iscard.cli.vcard"] = "lua/iscard/cli/vcard.lua",
         ["iscard.cli.vreader"] = "lua/iscard/cli/vreader.lua",
         ["iscard.cli.help"] = "lua/iscard/cli/help.lua",
      },
      bin = { iscard = "bin/iscard" },
   },
   platforms = {
      unix = {
         modules = {
            ["iscard.core"] = {
               sources = { "src/iscard_core.c", "src/worker.c" },
               incdirs = { "$(PCSC_INCDIR)/PCSC" },
               libdirs = { "$(PCSC_LIBDIR)" },
               libraries = { "pcsclite", "pthread", "dl" },
            },
         },
      },
      windows = {
         modules = {
            ["iscard.core"] = {
               sources = { "src/iscard_core.c", "src/worker.c" },
               libraries = { "winscard" },
            },
            ["iscard.vcard_io"] = false, -- POSIX only, like vpcd
         },
      },
      macosx = {
         -- The builtin backend cannot link a framework (luarocks/luarocks#367),
         -- so macOS compiles with plain commands and links -framework PCSC.
         type = "command",
         build_command = "mkdir -p iscard"
            .. " && $(CC) $(CFLAGS) -I$(LUA_INCDIR) -c src/iscard_core.c -o src/iscard_core.o"
            .. " && $(CC) $(CFLAGS) -I$(LUA_INCDIR) -c src/worker.c -o src/worker.o"
            .. " && $(LD) $(LIBFLAG) -o iscard/core.so src/iscard_core.o src/worker.o -framework PCSC"
            .. " && $(CC) $(CFLAGS) -I$(LUA_INCDIR) -c src/vcard_io.c -o src/vcard_io.o"
            .. " && $(LD) $(LIBFLAG) -o iscard/vcard_io.so src/vcard_io.o",
         install = {
            lib = {
               ["iscard.core"] = "iscard/core.so",
               ["iscard.vcard_io"] = "iscard/vcard_io.so",
            },
         },
      },
   },
}
