//! `#[audited]`: every call of the function leaves one tamper-evident decision receipt.
//!
//! Use it through the `ai-audit` crate (`ai_audit::audited`, default feature `macros`). The
//! expansion calls only the public `ai_audit::capture` module (`Scope`, `ScopeGuard`,
//! `Audited`, `Outcome`), so everything it does can be written by hand.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod args;
mod expand;
mod validate;

use proc_macro::TokenStream;
use quote::ToTokens as _;
use syn::ItemFn;

/// Records one receipt per call of the function, on every exit.
///
/// ```ignore
/// use ai_audit::audited;
///
/// #[audited(tenant = "bank-eu", capture(application), model = "credit-scorer-7")]
/// fn decide(application: &str, score: f64) -> Result<String, DeclineError> {
///     ai_audit::check("default_risk", score, 0.7);
///     if score >= 0.7 {
///         ai_audit::reason("risk_above_threshold");
///         return Err(DeclineError);
///     }
///     Ok("approve".to_owned())
/// }
/// ```
///
/// # Arguments
/// | argument | meaning |
/// |---|---|
/// | `tenant = EXPR` | required: the tenant whose chain the receipt joins (`impl AsRef<str>`; may use the arguments) |
/// | `name = "…"` | the decision point's name, recorded as reason code `decision:NAME` (default: the function's name) |
/// | `capture(a, b)` | the arguments hashed into `input_c14n`; **nothing is captured by default**. One argument: a `str`/`String`/`Cow<str>` (as spelled in the signature) goes through `canonicalize_input`, anything else must be `serde::Serialize` and goes through `hash_json`. Several: `hash_json` of `{"a": …, "b": …}` |
/// | `skip_output` | do not hash the `Ok` value (by default it is hashed: text through `hash_output`, anything else through `hash_json`; `()`, `impl Trait` and `dyn Trait` outputs are never hashed) |
/// | `model = "…"` | the model id (`ai_audit::set_model` in the body overrides it) |
/// | `session = EXPR` | the session id |
/// | `trace = EXPR` | the trace id (default: the enclosing audited call's, else random) |
/// | `on_err = "reject" \| "fail_retry"` | the action recorded for `Err` (default `reject`) |
/// | `crate = "path"` | where the `ai-audit` crate is (default `::ai_audit`) |
///
/// # Exits
/// A return type spelled `…Result<T, E>` maps `Ok` to `allow` and `Err` (an early `?` too) to
/// `on_err` with reason `error`; any other return type counts as `Ok`. A panic records
/// `fail_retry` with reason `panicked` and goes on unwinding. An `async fn` whose future is
/// dropped before completion records reason `cancelled`.
///
/// # Async
/// The body becomes an `async move` block wrapped in the capture scope's future; no guard is
/// held across an `.await`, and the function's future is `Send` exactly when the body's is.
///
/// # Limits
/// A sync body runs in a `move` closure, so a method that returns a reference borrowed
/// from `&mut self` does not compile under `#[audited]`; call an audited wrapper instead.
///
/// Set `AUDIT_MACROS_DEBUG=1` at build time to print each expansion to stderr.
#[proc_macro_attribute]
pub fn audited(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.clone().into();
    let f: ItemFn = match syn::parse(item) {
        Ok(f) => f,
        Err(e) => {
            let mut out = item2;
            out.extend(
                syn::Error::new(
                    e.span(),
                    "`#[audited]` goes on a function with a body (a free fn or a method in an impl block)",
                )
                .to_compile_error(),
            );
            return out.into();
        }
    };
    let expanded = syn::parse::<args::AuditedArgs>(attr)
        .and_then(|a| validate::validate(&a, &f).map(|()| a))
        .map(|a| expand::expand(&a, &f));
    let out = match expanded {
        Ok(ts) => ts,
        Err(e) => {
            let mut out = f.to_token_stream();
            out.extend(e.to_compile_error());
            out
        }
    };
    if std::env::var_os("AUDIT_MACROS_DEBUG").is_some_and(|v| v == "1") {
        eprintln!("#[audited] expansion of `{}`:\n{out}", f.sig.ident);
    }
    out.into()
}
