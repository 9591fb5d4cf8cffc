-- busted output handler (run-busted: `-o spec/support/counting_output.lua`):
-- busted's own terminal output for the reader, and the counts of busted's
-- result lists -- the data its json handler reports -- written to the file
-- $ISCARD_BUSTED_COUNTS as shell assignments, for the summary line.
return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.utfTerminal")(options)
  local path = os.getenv("ISCARD_BUSTED_COUNTS")
  busted.subscribe({ "suite", "end" }, function()
    if not path then return nil, true end
    local f = assert(io.open(path, "w"))
    f:write(("successes=%d\nfailures=%d\nerrors=%d\npendings=%d\n"):format(
      #handler.successes, #handler.failures, #handler.errors, #handler.pendings))
    f:close()
    return nil, true
  end)
  return handler
end
