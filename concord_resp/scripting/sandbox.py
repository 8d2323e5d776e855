"""The Lua side of the scripting engine: what a script can see, and how a call runs.

`BOOTSTRAP` runs once in a fresh runtime, with the full standard library, and returns the
functions the engine drives. Scripts never see that library: each call runs the script's
function under an environment of its own, whose reads fall through to `SCRIPT_GLOBALS`, a
read-only view of what Redis 7.0 offers (the base library without `loadfile`/`dofile`/
`load`, `string`, `table`, `math`, the `redis` table, and `cjson`/`cmsgpack`/`bit`/`struct`
once installed). Writing a global, or any field of those tables, fails as in Redis ("Attempt
to modify a readonly table"); reading a missing global fails too. So no script can leave
anything behind for the next one, and a read-only script run on one node leaves that node's
runtime as it was: what every replica computes depends only on the log.

The budget: a count hook fires every HOOK_EVERY instructions and each `redis.call` costs
CALL_COST more; past the budget the hook fires on every instruction and raises, so the script
unwinds even through `pcall`. The count depends only on the script and its inputs, so every
replica stops a script at the same instruction with the same effects done.

Lua-level sources of nondeterminism are closed: `math.random` is Redis's rand48, reseeded
for each call; `tostring` of a table or function names it by the order it was first shown in
the call, not by its address; `collectgarbage` does nothing (its counts differ between
nodes); `print` is absent; the garbage collector is stopped while a script runs (its pace
would make the memory cap trip at different points), and steps after it.

Function libraries (FUNCTION LOAD) run their code in `function_env`: `redis` with
`register_function` while the code runs, the script globals once their functions are called.
FCALL runs the library's code again before each call, so no call can leave state behind in
the library's upvalues for a later one (Redis 7.0 keeps it until the library is reloaded).
"""

from __future__ import annotations

from typing import Final

from .scripts import FLAG_NAMES

HOOK_EVERY: Final = 10_000  # instructions between two budget checks
CALL_COST: Final = 2_000  # instructions charged for each redis.call/pcall (about its time)
INTERNAL_CHUNK: Final = "=concord"  # the chunk name of this file's Lua code (frames to skip)

BOOTSTRAP: Final = r"""
local api, host_tick, host_unwrap, library_host = ...
local type, tostring, error, select, next, pairs, rawget, rawset, setmetatable, getmetatable,
      setfenv, xpcall, pcall, unpack, tonumber =
      type, tostring, error, select, next, pairs, rawget, rawset, setmetatable, getmetatable,
      setfenv, xpcall, pcall, unpack, tonumber
local sethook, getinfo, raw_getmetatable = debug.sethook, debug.getinfo, debug.getmetatable
local floor, fmod = math.floor, math.fmod
local collect = collectgarbage

-- the budget (kept by the engine: host_tick adds HOOK_EVERY and says if it is spent) ---------
local HOOK_EVERY = %(hook_every)d
local exhausted = false

local function stop_hook()
  -- Spent (or killed): raise on every instruction of the script's own code.
  if getinfo(2, "S").source == "%(internal)s" then return end
  error(host_tick(0), 0)
end

local function count_hook()
  local spent = host_tick(HOOK_EVERY)
  if spent then
    exhausted = true
    sethook(stop_hook, "", 1)
    -- (In this file's own code, say between xpcall's return and the end of `run`, nothing
    -- is raised: the stop hook raises at the script's next instruction, if any.)
    if getinfo(2, "S").source ~= "%(internal)s" then error(spent, 0) end
  end
end

-- read-only views -------------------------------------------------------------------------
local readonly = setmetatable({}, {__mode = "k"})  -- proxy -> the table it shows

local function deny_write()
  error("Attempt to modify a readonly table", 2)
end

local function view(real)
  local proxy = setmetatable({}, {__index = real, __newindex = deny_write, __metatable = false})
  readonly[proxy] = real
  return proxy
end

local function safe_rawset(t, k, v)
  if readonly[t] then error("Attempt to modify a readonly table", 2) end
  return rawset(t, k, v)
end

local function safe_setmetatable(t, mt)
  if readonly[t] then error("Attempt to modify a readonly table", 2) end
  return setmetatable(t, mt)
end

local function see_through(t)
  local real = readonly[t]
  if real ~= nil then return real end
  return t
end

local function safe_next(t, k)
  return next(see_through(t), k)
end

local function safe_pairs(t)
  return safe_next, t, nil
end

local function safe_rawget(t, k)
  return rawget(see_through(t), k)
end

-- deterministic names for tables and functions
local names, shown = setmetatable({}, {__mode = "k"}), 0
local function safe_tostring(v)
  local kind = type(v)
  if kind == "table" or kind == "function" or kind == "userdata" or kind == "thread" then
    local meta = raw_getmetatable(v)
    if type(meta) == "table" and rawget(meta, "__tostring") ~= nil then
      return tostring(v)  -- its own text (cjson.null's `userdata: (nil)`)
    end
    if readonly[v] then v = readonly[v] end
    local name = names[v]
    if name == nil then
      shown = shown + 1
      name = string.format("%%s: 0x%%08x", kind, shown)
      names[v] = name
    end
    return name
  end
  return tostring(v)
end

-- Redis's rand48, so math.random gives Redis's sequence for a seed
local X0, X1, X2 = 0x330E, 0, 0
local function rand48_seed(seed)
  seed = floor(seed) %% 4294967296
  X0, X1, X2 = 0x330E, seed %% 65536, floor(seed / 65536) %% 65536
end
local function rand48_next()
  -- X = (0x5DEECE66D * X + 0xB) mod 2^48, in 16-bit limbs (doubles hold 53 bits exactly)
  local a0, a1, a2 = 0xE66D, 0xDEEC, 0x5
  local p0 = a0 * X0 + 0xB
  local c0 = floor(p0 / 65536)
  local n0 = p0 - c0 * 65536
  local p1 = a0 * X1 + a1 * X0 + c0
  local c1 = floor(p1 / 65536)
  local n1 = p1 - c1 * 65536
  local p2 = a0 * X2 + a1 * X1 + a2 * X0 + c1
  local n2 = p2 %% 65536
  X0, X1, X2 = n0, n1, n2
  return X2 * 32768 + floor(X1 / 2)  -- the top 31 bits: lrand48()
end
local function lua_random(...)
  local r = (rand48_next() %% 2147483647) / 2147483647
  local n = select("#", ...)
  if n == 0 then return r end
  local m = ...
  if n == 1 then
    m = tonumber(m)
    if m == nil or m < 1 then error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * m) + 1
  elseif n == 2 then
    local l, u = ...
    l, u = tonumber(l), tonumber(u)
    if l > u then error("bad argument #2 to 'random' (interval is empty)", 2) end
    return floor(r * (u - l + 1)) + l
  end
  error("wrong number of arguments", 2)
end
local function lua_randomseed(seed)
  rand48_seed(tonumber(seed) or 0)
end

-- the redis table: the engine's Python functions (C functions, as Redis's are: an error they
-- raise names the script's line even in `return redis.call(...)`)
local redis = {}
for name, fn in next, api do redis[name] = fn end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL =
  0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = "7.0.15", 0x0007000f

-- what scripts see ----------------------------------------------------------------------------
local base, globals_view, script_env = {}, nil, nil
for _, name in ipairs({
  "assert", "error", "getmetatable", "ipairs", "loadstring", "next",
  "rawequal", "select", "tonumber", "type", "unpack",
  "_VERSION",
}) do
  base[name] = _G[name]
end
local function unwrapped(ok, ...)
  -- Redis 7.0's pcall: an error table is caught as its `err` text (older scripts' view)
  if ok then return ok, ... end
  local err = ...
  if type(err) == "userdata" then err = host_unwrap(err) end
  if type(err) == "table" and type(rawget(err, "err")) == "string" then err = rawget(err, "err") end
  return false, err
end
base.pcall = function(fn, ...)
  return unwrapped(pcall(fn, ...))
end
base.xpcall = function(fn, handler)
  return xpcall(fn, function(err)
    if type(err) == "userdata" then err = host_unwrap(err) end
    return handler(err)
  end)
end
base.tostring = safe_tostring
base.pairs = safe_pairs
base.next = safe_next
base.rawget = safe_rawget
base.rawset = safe_rawset
base.setmetatable = safe_setmetatable
base.collectgarbage = function() return 0 end
base.gcinfo = function() return 0 end
base.gcinfo = function() return 0 end
local math_copy = {}
for k, v in next, math do math_copy[k] = v end
math_copy.random, math_copy.randomseed = lua_random, lua_randomseed
base.string = view(string)
base.table = view(table)
base.math = view(math_copy)
-- An error raised by one of the engine's Python functions reaches Lua as a userdata; what
-- a script sees of it is its value (a message, or an error table).
local function unwrapped_any(ok, ...)
  if ok then return ok, ... end
  local err = ...
  if type(err) == "userdata" then err = host_unwrap(err) end
  return false, err
end

-- A coroutine runs under the same budget (a Lua hook belongs to one thread).
local coroutine_copy = {}
for k, v in next, coroutine do coroutine_copy[k] = v end
coroutine_copy.create = function(fn)
  local co = coroutine.create(fn)
  if exhausted then sethook(co, stop_hook, "", 1) else sethook(co, count_hook, "", HOOK_EVERY) end
  return co
end
coroutine_copy.resume = function(co, ...)
  return unwrapped_any(coroutine.resume(co, ...))
end
coroutine_copy.wrap = function(fn)
  local co = coroutine_copy.create(fn)
  return function(...)
    local results = {unwrapped_any(coroutine.resume(co, ...))}
    if not results[1] then error(results[2], 2) end
    return unpack(results, 2, table.maxn(results))
  end
end
base.coroutine = view(coroutine_copy)
base.redis = view(redis)
base.load = function(reader, name)
  local pieces = {}
  while true do
    local piece = reader()
    if piece == nil or piece == "" then break end
    if type(piece) ~= "string" then return nil, "reader function must return a string" end
    pieces[#pieces + 1] = piece
  end
  return base.loadstring(table.concat(pieces), name)
end
base.loadstring = function(source, name)
  if type(source) == "string" and source:byte(1) == 27 then
    return nil, "unexpected symbol near 'char(27)'"
  end
  local fn, message = loadstring(source, name)
  if fn ~= nil then setfenv(fn, script_env) end
  return fn, message
end
globals_view = view(base)
base._G = globals_view
getmetatable("").__index = base.string
getmetatable("").__metatable = false

local function add_library(name, library)
  base[name] = view(library)
end

local current_keys, current_argv = nil, nil
local env_meta = {__index = function(_, name)
  if name == "KEYS" then return current_keys elseif name == "ARGV" then return current_argv end
  local value = base[name]
  if value == nil then
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end
  return value
end, __newindex = deny_write, __metatable = false}
-- Every script runs in this one environment: empty, and no script can write to it.
script_env = setmetatable({}, env_meta)
readonly[script_env] = base

-- running a script ------------------------------------------------------------------------
on_error = function(err)
  -- The frame the error came from: the innermost one in a script's own code.
  local level, info = 2, nil
  while true do
    info = getinfo(level, "Sl")
    if info == nil or (info.what ~= "C" and info.source ~= "%(internal)s") then break end
    level = level + 1
  end
  local message
  if type(err) == "userdata" then err = host_unwrap(err) end
  if type(err) == "table" and type(rawget(err, "err")) == "string" then
    message = rawget(err, "err")
  elseif type(err) == "string" and err:sub(1, 4) == "ERR " then
    message = err  -- the budget, or SCRIPT KILL
  else
    message = "ERR " .. tostring(err)
  end
  local out = {err = message}
  if info ~= nil then
    out.source, out.line = info.source, info.currentline
  end
  return out
end

local function run(fn, seed, numkeys, ...)
  local nargs = select("#", ...)
  local all = {...}
  local keys, argv = {}, {}
  for i = 1, numkeys do keys[i] = all[i] end
  for i = numkeys + 1, nargs do argv[i - numkeys] = all[i] end
  current_keys, current_argv = keys, argv
  setfenv(fn, script_env)
  exhausted = false
  shown = 0
  names = setmetatable({}, {__mode = "k"})
  rand48_seed(seed)
  collect("stop")
  sethook(count_hook, "", HOOK_EVERY)
  local ok, result = xpcall(fn, on_error)
  sethook()
  collect("restart")
  collect("step")
  return ok, result
end

local function compile(source, chunk)
  if source:byte(1) == 27 then  -- precompiled bytecode: Lua does not check it (Redis's Lua
    -- refuses it too, with this text)
    return false, chunk:sub(2) .. ":1: unexpected symbol near 'char(27)'"
  end
  local fn, message = loadstring(source, chunk)
  return fn or false, message or false
end

-- functions: FUNCTION LOAD and FCALL ---------------------------------------------------------
-- A library's code runs with one global, `redis`, holding register_function, log, the LOG_
-- levels and the version (what Redis 7.0 gives it); the functions it registers see the
-- script globals when they are called (`function_env` answers by `registering`). FCALL runs
-- the library's code again and then calls the function it registered this time, so what a
-- call leaves in the library's upvalues no later call sees: a call depends only on the
-- library's code and its own input, on every replica, restarted or not.
local gsub, char, find = string.gsub, string.char, string.find
local FUNCTION_FLAGS = {%(function_flags)s}
local registering = nil  -- while a library's code runs: what it registers

local LOWER = {}
for c = 65, 90 do LOWER[char(c)] = char(c + 32) end
local function ascii_lower(text)  -- strcasecmp's folding, whatever the C locale
  return (gsub(text, "[A-Z]", LOWER))
end

local function c_text(text)  -- a Lua string as C reads it: up to its first NUL
  return (gsub(text, "%%z.*", ""))
end

local function lua_string(value)  -- lua_isstring: a string, or a number as its text
  local kind = type(value)
  if kind == "string" then return value end
  if kind == "number" then return tostring(value) end
  return nil
end

local function nonexistent(name)
  -- Redis's luaProtectedTableError, for the code three levels up
  local text = lua_string(name)
  if text == nil then
    error("Second argument to luaProtectedTableError must be a string or number", 3)
  end
  error("Script attempted to access nonexistent global variable '" .. c_text(text) .. "'", 3)
end

local function register_error(text)
  error({err = "ERR " .. text})
end

local function read_flags(flags)
  local bits, j = 0, 1
  while true do
    local flag = flags[j]
    if flag == nil then return bits end
    flag = lua_string(flag)
    local bit = flag and FUNCTION_FLAGS[ascii_lower(c_text(flag))]
    if bit == nil then return nil end
    if bits %% (bit * 2) < bit then bits = bits + bit end
    j = j + 1
  end
end

local function registration(...)
  -- redis.register_function's arguments, positional or named, checked in Redis's order
  local count = select("#", ...)
  if count < 1 or count > 2 then
    register_error("wrong number of arguments to redis.register_function")
  end
  if count == 2 then
    local name, callback = ...
    name = lua_string(name)
    if name == nil then
      register_error("first argument to redis.register_function must be a string")
    end
    if type(callback) ~= "function" then
      register_error("second argument to redis.register_function must be a function")
    end
    return name, callback, false, 0
  end
  local named = ...
  if type(named) ~= "table" then
    register_error("calling redis.register_function with a single argument is only applicable"
      .. " to Lua table (representing named arguments).")
  end
  local name, callback, description, flags = nil, nil, false, 0
  for key, value in next, see_through(named) do
    key = lua_string(key)
    if key == nil then
      register_error("named argument key given to redis.register_function is not a string")
    end
    key = ascii_lower(c_text(key))
    if key == "function_name" then
      name = lua_string(value)
      if name == nil then
        register_error("function_name argument given to redis.register_function must be a string")
      end
    elseif key == "description" then
      description = lua_string(value)
      if description == nil then
        register_error("description argument given to redis.register_function must be a string")
      end
    elseif key == "callback" then
      if type(value) ~= "function" then
        register_error("callback argument given to redis.register_function must be a function")
      end
      callback = value
    elseif key == "flags" then
      if type(value) ~= "table" then
        register_error("flags argument to redis.register_function must be a table representing"
          .. " function flags")
      end
      flags = read_flags(value)
      if flags == nil then register_error("unknown flag given") end
    else
      register_error("unknown argument given to redis.register_function")
    end
  end
  if name == nil then register_error("redis.register_function must get a function name argument") end
  if callback == nil then register_error("redis.register_function must get a callback argument") end
  return name, callback, description, flags
end

local function register_function(...)
  -- (Called through the engine's Python function: as Redis's C function, it is never the
  -- target of a tail call, so an error names the line that called it.)
  local library = registering
  if library == nil then
    register_error("redis.register_function can only be called on FUNCTION LOAD command")
  end
  local name, callback, description, flags = registration(...)
  if not find(name, "^[a-zA-Z0-9_]+$") then
    register_error("Library names can only contain letters, numbers, or underscores(_) and must"
      .. " be at least one character long")
  end
  -- Names are compared without case (FCALL finds them so), in a library too: Redis 7.0 takes
  -- `f` and `F` there, and then fails an assertion when the library is replaced or deleted.
  local folded = ascii_lower(name)
  if library.callbacks[folded] ~= nil then register_error("Function already exists in the library") end
  library.callbacks[folded] = callback
  library.list[#library.list + 1] = {name, description, flags}
end

local function try_register(...)
  local ok, err = pcall(register_function, ...)
  return ok, err
end

local library_api = {
  register_function = library_host.register_function,
  log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG,
  LOG_VERBOSE = redis.LOG_VERBOSE,
  LOG_NOTICE = redis.LOG_NOTICE,
  LOG_WARNING = redis.LOG_WARNING,
  REDIS_VERSION = redis.REDIS_VERSION,
  REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}
local library_redis = setmetatable({}, {__index = function(_, name)
  local value = library_api[name]
  if value == nil then nonexistent(name) end
  return value
end, __newindex = deny_write, __metatable = false})
readonly[library_redis] = library_api

local function_env = setmetatable({}, {__index = function(_, name)
  if registering ~= nil then
    if name == "redis" then return library_redis end
  else
    local value = base[name]
    if value ~= nil then return value end
  end
  nonexistent(name)
end, __newindex = deny_write, __metatable = false})
readonly[function_env] = base

local function load_library(chunk)
  -- FUNCTION LOAD: run a library's code; true and its functions ({name, description or
  -- false, flags}, in the order registered), or false and the error (as on_error gives it).
  exhausted = false
  shown = 0
  names = setmetatable({}, {__mode = "k"})
  local library = {list = {}, callbacks = {}}
  registering = library
  setfenv(chunk, function_env)
  collect("stop")
  sethook(count_hook, "", HOOK_EVERY)
  local ok, result = xpcall(chunk, on_error)
  sethook()
  registering = nil
  collect("restart")
  collect("step")
  if not ok then return false, result end
  return true, library.list
end

local collected = library_host.collected
local function function_caller(chunk)
  -- FCALL: what `run` runs (its budget, seed, keys and args): the library's code afresh (the
  -- engine keeps the callback of the function called as it is registered again), then that
  -- function with the keys and the args.
  return function()
    registering = {list = {}, callbacks = {}}
    setfenv(chunk, function_env)
    chunk()
    registering = nil
    return collected()(current_keys, current_argv)
  end
end

return run, compile, add_library,
  {load = load_library, caller = function_caller, register = try_register}
"""


def bootstrap_source() -> str:
    return BOOTSTRAP % {
        "hook_every": HOOK_EVERY,
        "call_cost": CALL_COST,
        "internal": INTERNAL_CHUNK,
        "function_flags": ", ".join(
            f'["{name.decode()}"] = {bit}' for name, bit in FLAG_NAMES.items()
        ),
    }
