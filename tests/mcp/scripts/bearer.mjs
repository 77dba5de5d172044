// Preloaded (node --import) into the conformance suite, which has no
// option for headers: adds `Authorization: Bearer $MCP_BEARER` to every
// request it makes, through fetch() and undici's request() (which share
// undici's global dispatcher) and through node:http.
import http from 'node:http';
import { Agent, setGlobalDispatcher } from 'undici';

const bearer = `Bearer ${process.env.MCP_BEARER}`;

/** `headers` (any form undici takes) with the bearer, unless it has one. */
function withBearer(headers) {
  if (headers == null) return { authorization: bearer };
  if (Array.isArray(headers)) {
    const pairs = headers.length > 0 && Array.isArray(headers[0]);
    const names = pairs ? headers.map(([name]) => name) : headers.filter((_, i) => i % 2 === 0);
    if (names.some((name) => String(name).toLowerCase() === 'authorization')) return headers;
    return pairs ? [...headers, ['authorization', bearer]] : [...headers, 'authorization', bearer];
  }
  if (Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) return headers;
  return { ...headers, authorization: bearer };
}

setGlobalDispatcher(
  new Agent().compose((dispatch) => (options, handler) =>
    dispatch({ ...options, headers: withBearer(options.headers) }, handler),
  ),
);

const fetch = globalThis.fetch;
globalThis.fetch = (input, init = {}) => {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  if (!headers.has('authorization')) headers.set('authorization', bearer);
  return fetch(input, { ...init, headers });
};

const request = http.request;
http.request = (options, ...rest) => {
  if (options && typeof options === 'object' && !(options instanceof URL)) {
    options = { ...options, headers: withBearer(options.headers) };
  }
  return request(options, ...rest);
};
