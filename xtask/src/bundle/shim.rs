//! The Worker entry module: worker-build's shim (`shim.js`, its default, non-unwind one)
//! with one `Entrypoint` method per handler the Rust code exports, so workerd calls the
//! handlers with `env` and `ctx`, and each exported class re-exported behind the proxy that
//! reinitializes the instance after a trap.

const TEMPLATE: &str = include_str!("shim.js");

/// Exports of the wasm-bindgen glue that are the shim's own machinery, not handlers.
const SYSTEM: [&str; 2] = ["__wbg_reset_state", "__worker_init_state"];

/// Handlers workerd calls as `(event, env, ctx)`; any other export is passed through as is.
const EVENTS: [&str; 5] = ["fetch", "queue", "scheduled", "email", "connect"];

/// The shim for wasm-bindgen's `index.js` (its unminified ES module output).
pub fn render(index_js: &str) -> String {
    let exports = Exports::of(index_js);
    let mut handlers = String::new();
    for name in exports.functions {
        if SYSTEM.contains(&name) {
            continue;
        }
        if EVENTS.contains(&name) {
            handlers += &format!(
                "Entrypoint.prototype.{name} = function {name} (arg) {{\n  \
                 return exports.{name}.call(this, arg, this.env, this.ctx);\n}}\n"
            );
        } else {
            handlers += &format!("Entrypoint.prototype.{name} = exports.{name};\n");
        }
    }
    let mut shim = TEMPLATE.replace("$HANDLERS", &handlers);
    for class in exports.classes {
        shim += &format!("export const {class} = new Proxy(exports.{class}, classProxyHooks);\n");
    }
    shim
}

/// What `index.js` exports, in order of declaration.
struct Exports<'a> {
    functions: Vec<&'a str>,
    classes: Vec<&'a str>,
}

impl<'a> Exports<'a> {
    fn of(js: &'a str) -> Exports<'a> {
        let mut exports = Exports {
            functions: Vec::new(),
            classes: Vec::new(),
        };
        for line in js.lines() {
            if let Some(rest) = line
                .strip_prefix("export function ")
                .or_else(|| line.strip_prefix("export async function "))
            {
                if let Some(end) = rest.find('(') {
                    exports.functions.push(rest[..end].trim());
                }
            } else if let Some(rest) = line.strip_prefix("export {") {
                // `export { local as name };`
                if let Some((_, alias)) = rest.split_once(" as ") {
                    if let Some(end) = alias.find('}') {
                        exports.functions.push(alias[..end].trim());
                    }
                }
            } else if let Some(rest) = line.strip_prefix("export class ") {
                if let Some(end) = rest.find('{') {
                    exports.classes.push(rest[..end].trim());
                }
            }
        }
        exports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_get_env_and_ctx_other_exports_pass_through() {
        let js = "export function fetch(req, env, ctx) {\n}\n\
                  export function scheduled(ev, env, ctx) {\n}\n\
                  export function __wbg_reset_state() {\n}\n\
                  export { __worker_init_state_x as __worker_init_state };\n\
                  export async function helper(a) {\n}\n\
                  export { inner as other };\n";
        let shim = render(js);
        assert!(shim.contains(
            "Entrypoint.prototype.fetch = function fetch (arg) {\n  \
             return exports.fetch.call(this, arg, this.env, this.ctx);\n}"
        ));
        assert!(shim.contains("Entrypoint.prototype.scheduled = function scheduled (arg)"));
        assert!(shim.contains("Entrypoint.prototype.helper = exports.helper;"));
        assert!(shim.contains("Entrypoint.prototype.other = exports.other;"));
        assert!(!shim.contains("prototype.__wbg_reset_state"));
        assert!(!shim.contains("prototype.__worker_init_state"));
        assert!(!shim.contains("$HANDLERS"));
    }

    #[test]
    fn classes_are_exported_behind_the_reinitializing_proxy() {
        let shim = render("export class Counter {\n}\nexport class Options {\n}\n");
        assert!(shim.ends_with(
            "export const Counter = new Proxy(exports.Counter, classProxyHooks);\n\
             export const Options = new Proxy(exports.Options, classProxyHooks);\n"
        ));
    }
}
