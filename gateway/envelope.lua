-- The REST envelope (DESIGN.md §2), added on the response path of transcoded calls.
--
-- This filter sits before the grpc_json_transcoder in envoy.yaml, so on the way back it sees the transcoder's
-- JSON: the RPC's response on success, or a google.rpc.Status from convert_grpc_status on error, e.g.
--   {"code":3,"message":"…","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",
--    "reason":"VALIDATION_ERROR","domain":"wagw","metadata":{"field":"phoneNumber"}}]}
-- and rewrites it into
--   {"success":true,"data":<body>,"meta":{"timestamp":"2026-02-05T10:00:00Z"}}
--   {"success":false,"error":{"code":"VALIDATION_ERROR","message":"…","details":{"field":"phoneNumber"}}}
-- with the HTTP status our error code stands for.
--
-- It leaves alone: native gRPC responses, 2xx server streams (calling body() would buffer a stream that may
-- never end), and Envoy's own local replies, which local_reply_config has already enveloped and marked.
--
-- Envoy's Lua has no JSON library. Protobuf's JSON printer writes well-formed, compact JSON, so a small
-- scanner that finds value boundaries (respecting strings and their escapes) is enough: the values we keep
-- (the message string, the reason, the metadata object, the response body) are copied verbatim, never
-- decoded and re-encoded, so they stay valid, escaped JSON.

-- On the request path it turns away, before anything reaches the API server, what gRPC cannot carry (a header
-- name gRPC metadata does not allow, invalid UTF-8 in the path or a query parameter: grpcio would fail either
-- with a 500), and answers 405 with Allow for a REST path the contract has under other methods. Its replies
-- are local replies, put in the envelope by local_reply_config like Envoy's own.

-- Set by the local_reply_config mappers in envoy.yaml on every reply they envelope.
local LOCAL_REPLY_MARK = "x-wagw-local-reply"

-- The contract's REST routes: { Lua pattern of the path, "GET, POST" }, made from the protos' google.api.http
-- annotations by gateway/envoy.py, which puts WAGW_ROUTES before this file when it renders envoy.yaml.
local ROUTES = WAGW_ROUTES or {}

-- The HTTP status of each error code. The transcoder maps gRPC codes to HTTP on its own, but one gRPC code
-- carries several of ours (RESOURCE_EXHAUSTED is RATE_LIMITED 429 or PAYLOAD_TOO_LARGE 413), and for some
-- the mapping differs from ours (FAILED_PRECONDITION is 400 there, CONFLICT is 409 here).
local HTTP_STATUS = {
  VALIDATION_ERROR = 400,
  UNAUTHORIZED = 401,
  FORBIDDEN = 403,
  NOT_GROUP_ADMIN = 403,
  NOT_FOUND = 404,
  METHOD_NOT_ALLOWED = 405,
  CONFLICT = 409,
  GONE = 410,
  PROFILE_NOT_CONNECTED = 409,
  PAYLOAD_TOO_LARGE = 413,
  RATE_LIMITED = 429,
  HEADERS_TOO_LARGE = 431,
  INTERNAL = 500,
  NOT_SUPPORTED = 501,
  NOT_IMPLEMENTED = 501,
  ENGINE_ERROR = 502,
  UNAVAILABLE = 503,
}

-- Our code for a gRPC status that carries no ErrorInfo (raised by grpcio itself, e.g. an unregistered
-- method, or by a server that called context.abort with a bare code). Anything else is INTERNAL.
local CODE_OF_GRPC = {
  [3] = "VALIDATION_ERROR", -- INVALID_ARGUMENT
  [4] = "UNAVAILABLE", -- DEADLINE_EXCEEDED
  [5] = "NOT_FOUND",
  [6] = "CONFLICT", -- ALREADY_EXISTS
  [7] = "FORBIDDEN", -- PERMISSION_DENIED
  [8] = "RATE_LIMITED", -- RESOURCE_EXHAUSTED
  [9] = "CONFLICT", -- FAILED_PRECONDITION
  [10] = "CONFLICT", -- ABORTED
  [11] = "VALIDATION_ERROR", -- OUT_OF_RANGE: a caller's mistake, as Envoy's own 400 for it says
  [12] = "NOT_IMPLEMENTED", -- UNIMPLEMENTED
  [14] = "UNAVAILABLE",
  [16] = "UNAUTHORIZED", -- UNAUTHENTICATED
}

-- Our code for a non-2xx answer that is not a google.rpc.Status at all.
local CODE_OF_HTTP = {
  [400] = "VALIDATION_ERROR",
  [401] = "UNAUTHORIZED",
  [403] = "FORBIDDEN",
  [404] = "NOT_FOUND",
  [405] = "METHOD_NOT_ALLOWED",
  [409] = "CONFLICT",
  [413] = "PAYLOAD_TOO_LARGE",
  [431] = "HEADERS_TOO_LARGE",
  [429] = "RATE_LIMITED",
  [501] = "NOT_IMPLEMENTED",
  [503] = "UNAVAILABLE",
  [504] = "UNAVAILABLE",
}

local ERROR_INFO_TYPE = '"type.googleapis.com/google.rpc.ErrorInfo"'

---------------------------------------------------------------------------------------------------------------
-- A minimal JSON scanner: it finds where values end and splits objects and arrays into raw member texts.

local function skip_space(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

-- s[i] is the opening quote of a string; returns the index of its closing quote (escapes skipped), or nil.
local function string_end(s, i)
  local j = i + 1
  while true do
    local k = s:find('["\\]', j)
    if not k then
      return nil
    end
    if s:byte(k) == 34 then -- '"'
      return k
    end
    j = k + 2 -- a backslash escapes the next byte; \uXXXX's hex digits need no care
  end
end

-- Returns the index of the last byte of the JSON value starting at s[i], or nil if it is cut short.
local function value_end(s, i)
  local c = s:sub(i, i)
  if c == '"' then
    return string_end(s, i)
  end
  if c == "{" or c == "[" then
    local depth, j = 0, i
    while true do
      local k = s:find('[%[%]{}"]', j)
      if not k then
        return nil
      end
      local b = s:sub(k, k)
      if b == '"' then
        k = string_end(s, k)
        if not k then
          return nil
        end
      elseif b == "{" or b == "[" then
        depth = depth + 1
      else
        depth = depth - 1
        if depth == 0 then
          return k
        end
      end
      j = k + 1
    end
  end
  -- A number, true, false or null runs up to the next delimiter.
  local k = s:find("[,}%]%s]", i)
  if k == i then
    return nil
  end
  return (k or #s + 1) - 1
end

-- Calls visit(key_or_nil, raw_value) for each member of the object or array starting at s[i] (after
-- whitespace). Keys are passed raw, without their quotes: ours are plain ASCII. Returns false if malformed.
local function each_member(s, i, visit)
  i = skip_space(s, i)
  local open = s:sub(i, i)
  local close = ({ ["{"] = "}", ["["] = "]" })[open]
  if not close then
    return false
  end
  i = skip_space(s, i + 1)
  if s:sub(i, i) == close then
    return true
  end
  while true do
    local key = nil
    if open == "{" then
      local key_end = s:sub(i, i) == '"' and string_end(s, i)
      if not key_end then
        return false
      end
      key = s:sub(i + 1, key_end - 1)
      i = skip_space(s, key_end + 1)
      if s:sub(i, i) ~= ":" then
        return false
      end
      i = skip_space(s, i + 1)
    end
    local last = value_end(s, i)
    if not last then
      return false
    end
    visit(key, s:sub(i, last))
    i = skip_space(s, last + 1)
    local c = s:sub(i, i)
    if c == close then
      return true
    end
    if c ~= "," then
      return false
    end
    i = skip_space(s, i + 1)
  end
end

-- The members of a JSON object as a table of raw values, or nil if s is not an object.
local function object_members(s)
  local members = {}
  local ok = each_member(s, 1, function(key, value)
    members[key] = value
  end)
  return ok and members or nil
end

---------------------------------------------------------------------------------------------------------------
-- The envelopes.

local function timestamp()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

local function success_envelope(body)
  if body:find("^%s*$") then
    body = "{}" -- a headers-only 2xx: data is still an object
  end
  return '{"success":true,"data":' .. body .. ',"meta":{"timestamp":"' .. timestamp() .. '"}}'
end

-- The ErrorInfo in a google.rpc.Status's details array, as a table of raw member values, or nil.
local function error_info(details)
  local found = nil
  if details then
    each_member(details, 1, function(_, detail)
      local members = not found and object_members(detail)
      if members and members["@type"] == ERROR_INFO_TYPE and members.reason then
        found = members
      end
    end)
  end
  return found
end

-- Returns the error envelope for an error body and the HTTP status to answer with.
local function error_envelope(handle, body, http_status)
  local status = object_members(body)
  local code, message, details -- code is plain text; message and details are raw JSON
  if status and status.code then
    message = status.message
    local info = error_info(status.details)
    if info then
      code = info.reason:sub(2, -2)
      if info.metadata and not info.metadata:find("^{%s*}$") then
        details = info.metadata
      end
    else
      local grpc_code = tonumber(status.code)
      code = CODE_OF_GRPC[grpc_code] or "INTERNAL"
      if grpc_code == 2 then
        -- UNKNOWN without ErrorInfo is grpcio's "Exception calling application: <exception text>": an
        -- unhandled bug whose text is for the logs, not for the caller.
        handle:logWarn("unhandled server exception: " .. (message or ""))
        message = nil
      end
    end
  else
    code = CODE_OF_HTTP[http_status] or "INTERNAL"
  end
  if not message or message == '""' then
    message = code == "INTERNAL" and '"internal error"' or '"request failed"'
  end
  local envelope = '{"success":false,"error":{"code":"' .. code .. '","message":' .. message
  if details then
    envelope = envelope .. ',"details":' .. details
  end
  return envelope .. "}}", HTTP_STATUS[code] or http_status
end

---------------------------------------------------------------------------------------------------------------

-- Drops gRPC headers the transcoder copies onto REST responses (grpc-status, grpc-message, ...).
local function strip_grpc_headers(headers)
  local names = {}
  for name, _ in pairs(headers) do
    if name:sub(1, 5) == "grpc-" then
      names[#names + 1] = name
    end
  end
  for _, name in ipairs(names) do
    headers:remove(name)
  end
end

function envoy_on_response(handle)
  local headers = handle:headers()
  if headers:get(LOCAL_REPLY_MARK) then
    headers:remove(LOCAL_REPLY_MARK)
    return
  end
  -- Native gRPC (application/grpc...) passes untouched. So does any other body that is not the transcoder's
  -- JSON (a google.api.HttpBody reply such as the text/plain Cloud API webhook challenge), but without the gRPC
  -- headers the transcoder copied onto it.
  local content_type = headers:get("content-type") or ""
  if not content_type:find("^application/json") then
    if not content_type:find("^application/grpc") then
      strip_grpc_headers(headers)
    end
    return
  end
  local http_status = tonumber(headers:get(":status")) or 500
  strip_grpc_headers(headers)
  local ok = http_status >= 200 and http_status < 300
  if ok and handle:metadata():get("streaming") then
    return -- a server stream: NDJSON flows through as it comes
  end

  -- body() waits for the whole body; the headers are held back until this function returns, so they can
  -- still change, but through a fresh handle:headers(): the wrapper taken before the wait is dead after it.
  -- setBytes updates content-length itself.
  local body = handle:body(true) -- true: an empty buffer, not nil, for a headers-only response
  local text = body:getBytes(0, body:length())
  if ok then
    body:setBytes(success_envelope(text))
  else
    local envelope, status = error_envelope(handle, text, http_status)
    body:setBytes(envelope)
    handle:headers():replace(":status", tostring(status))
  end
end

---------------------------------------------------------------------------------------------------------------
-- The request path.

-- Whether s is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
local function valid_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    if c < 0x80 then
      i = i + 1
    else
      local length, low, high = 0, 0x80, 0xBF
      if c >= 0xC2 and c <= 0xDF then
        length = 2
      elseif c >= 0xE0 and c <= 0xEF then
        length = 3
        if c == 0xE0 then low = 0xA0 elseif c == 0xED then high = 0x9F end
      elseif c >= 0xF0 and c <= 0xF4 then
        length = 4
        if c == 0xF0 then low = 0x90 elseif c == 0xF4 then high = 0x8F end
      else
        return false
      end
      local second = s:byte(i + 1)
      if not second or second < low or second > high then
        return false
      end
      for j = i + 2, i + length - 1 do
        local b = s:byte(j)
        if not b or b < 0x80 or b > 0xBF then
          return false
        end
      end
      i = i + length
    end
  end
  return true
end

local function percent_decoded(s)
  return (s:gsub("%+", " "):gsub("%%(%x%x)", function(hex)
    return string.char(tonumber(hex, 16))
  end))
end

-- What of the path is not UTF-8 once percent-decoded: "the path", "query parameter 'x'", or nil.
local function invalid_text(path)
  if not path:find("[%%\128-\255]") then
    return nil -- plain ASCII, the usual case
  end
  local route, query = path:match("^([^?]*)%??(.*)$")
  if not valid_utf8(percent_decoded(route)) then
    return "the path"
  end
  for pair in query:gmatch("[^&]+") do
    local name, value = pair:match("^([^=]*)=?(.*)$")
    if not valid_utf8(percent_decoded(name)) or not valid_utf8(percent_decoded(value)) then
      return "query parameter '" .. percent_decoded(name):gsub("[\128-\255]", "?") .. "'"
    end
  end
  return nil
end

-- The methods the contract has for this path, when the request's method is not one of them; nil otherwise
-- (the method is declared, or no route has this path: the transcoder answers 404 then).
local function other_methods(method, path)
  local route = path:match("^[^?]*")
  local allowed = nil
  for _, entry in ipairs(ROUTES) do
    if route:find(entry[1]) then
      for declared in entry[2]:gmatch("[A-Z]+") do
        if declared == method then
          return nil
        end
      end
      allowed = allowed and (allowed .. ", " .. entry[2]) or entry[2]
    end
  end
  return allowed
end

local function refuse(handle, status, message, extra_headers)
  local headers = { [":status"] = tostring(status), ["content-type"] = "text/plain" }
  for name, value in pairs(extra_headers or {}) do
    headers[name] = value
  end
  handle:respond(headers, message) -- a local reply: local_reply_config puts the message in the envelope
end

function envoy_on_request(handle)
  local headers = handle:headers()
  for name, _ in pairs(headers) do
    -- gRPC metadata keys are lower-case letters, digits, '-', '_' and '.'; HTTP allows more ('#', '!', ...).
    if name:find("[^0-9a-z_.%-]") and name:byte(1) ~= 58 then -- 58: ':' of the pseudo-headers
      return refuse(handle, 400, "header '" .. name .. "' is not allowed: header names may hold only letters, "
        .. "digits, '-', '_' and '.'")
    end
  end
  local path = headers:get(":path") or ""
  if path:sub(1, 5) ~= "/api/" then
    return
  end
  local bad = invalid_text(path)
  if bad then
    return refuse(handle, 400, bad .. " is not valid UTF-8 once percent-decoded")
  end
  local method = headers:get(":method")
  if method ~= "OPTIONS" then
    local allowed = other_methods(method, path)
    if allowed then
      return refuse(handle, 405, method .. " is not allowed on " .. path:match("^[^?]*") .. "; allowed: "
        .. allowed, { allow = allowed })
    end
  end
end
