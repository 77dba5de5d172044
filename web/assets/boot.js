// Loads the dashboard (a Leptos app compiled to WebAssembly). A file, not
// an inline script, so the Content-Security-Policy can forbid inline code.
import init from '/assets/tgw_web.js';
init({ module_or_path: '/assets/tgw_web_bg.wasm' });
