//! Parsing `#[audited(...)]` into [`AuditedArgs`]; duplicates and bad values are rejected here,
//! spanned on the offending token.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Path, Token, parenthesized};

/// Every argument `#[audited]` accepts, in the order the docs list them.
pub(crate) const VALID: &str =
    "tenant, name, capture, skip_output, model, session, trace, on_err, crate";

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct AuditedArgs {
    pub(crate) tenant: Option<Expr>,
    pub(crate) name: Option<LitStr>,
    pub(crate) capture: Vec<Ident>,
    pub(crate) skip_output: bool,
    pub(crate) model: Option<LitStr>,
    pub(crate) session: Option<Expr>,
    pub(crate) trace: Option<Expr>,
    pub(crate) fail_retry_on_err: bool,
    pub(crate) krate: Option<Path>,
    seen: Vec<String>,
}

impl AuditedArgs {
    fn first_time(&mut self, key: &Ident) -> syn::Result<()> {
        let k = key.unraw().to_string();
        if self.seen.contains(&k) {
            return Err(syn::Error::new(
                key.span(),
                format!("`{k}` is set more than once; keep one `{k}`"),
            ));
        }
        self.seen.push(k);
        Ok(())
    }
}

impl Parse for AuditedArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Self::default();
        while !input.is_empty() {
            let key = input.call(Ident::parse_any)?;
            let k = key.unraw().to_string();
            match k.as_str() {
                "tenant" | "session" | "trace" => {
                    args.first_time(&key)?;
                    input.parse::<Token![=]>()?;
                    let e: Expr = input.parse()?;
                    match k.as_str() {
                        "tenant" => args.tenant = Some(e),
                        "session" => args.session = Some(e),
                        _ => args.trace = Some(e),
                    }
                }
                "name" | "model" => {
                    args.first_time(&key)?;
                    input.parse::<Token![=]>()?;
                    let s: LitStr = input.parse()?;
                    if k == "name" {
                        args.name = Some(s);
                    } else {
                        args.model = Some(s);
                    }
                }
                "on_err" => {
                    args.first_time(&key)?;
                    input.parse::<Token![=]>()?;
                    let s: LitStr = input.parse()?;
                    args.fail_retry_on_err = match s.value().as_str() {
                        "reject" => false,
                        "fail_retry" => true,
                        other => {
                            return Err(syn::Error::new(
                                s.span(),
                                format!(
                                    "`on_err = {other:?}` is not an error action; use \"reject\" (the default) or \"fail_retry\""
                                ),
                            ));
                        }
                    };
                }
                "crate" => {
                    args.first_time(&key)?;
                    input.parse::<Token![=]>()?;
                    let s: LitStr = input.parse()?;
                    args.krate = Some(s.parse_with(Path::parse_mod_style).map_err(|_| {
                        syn::Error::new(
                            s.span(),
                            "`crate` must be a path such as \"::my_crate::audit\"",
                        )
                    })?);
                }
                "capture" => {
                    args.first_time(&key)?;
                    let content;
                    parenthesized!(content in input);
                    let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                        &content,
                        Ident::parse_any,
                    )?;
                    if names.is_empty() {
                        return Err(syn::Error::new(
                            key.span(),
                            "`capture()` lists no argument; name the arguments to record, or remove it",
                        ));
                    }
                    args.capture = names.into_iter().collect();
                }
                "skip_output" => {
                    args.first_time(&key)?;
                    args.skip_output = true;
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown argument `{k}`; valid arguments are: {VALID}"),
                    ));
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

/// The span to blame for a missing argument: the attribute itself.
pub(crate) fn attribute_span() -> Span {
    Span::call_site()
}
