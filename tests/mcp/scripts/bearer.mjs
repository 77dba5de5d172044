// Preloaded (node --import) into the conformance suite, which has no
// option for headers: adds `Authorization: Bearer $MCP_BEARER` to every
// fetch() it makes.
const fetch = globalThis.fetch;
globalThis.fetch = (input, init = {}) => {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  if (!headers.has('authorization')) headers.set('authorization', `Bearer ${process.env.MCP_BEARER}`);
  return fetch(input, { ...init, headers });
};
