//! Every semantic check of `#[audited]`, each spanned on the token to fix.

use syn::{FnArg, Ident, ItemFn, Pat};

use crate::args::{AuditedArgs, attribute_span};

/// The names of the function's plain `name: Type` arguments, with their types.
pub(crate) fn named_args(f: &ItemFn) -> Vec<(&Ident, &syn::Type)> {
    f.sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) => Some((&p.ident, &*t.ty)),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// Checks the arguments against the function.
pub(crate) fn validate(args: &AuditedArgs, f: &ItemFn) -> syn::Result<()> {
    if let Some(c) = &f.sig.constness {
        return Err(syn::Error::new_spanned(
            c,
            "`#[audited]` cannot be used on `const fn`; call an audited wrapper instead",
        ));
    }
    if args.tenant.is_none() {
        return Err(syn::Error::new(
            attribute_span(),
            "missing `tenant`: every receipt joins a tenant's chain; add `tenant = \"acme\"` (any expression, may use the arguments)",
        ));
    }
    let names = named_args(f);
    for c in &args.capture {
        if !names.iter().any(|(n, _)| *n == c) {
            let list = names
                .iter()
                .map(|(n, _)| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = if list.is_empty() {
                "it has no named arguments".to_owned()
            } else {
                format!("its named arguments are {list}")
            };
            return Err(syn::Error::new(
                c.span(),
                format!("`capture({c})`: the function has no argument `{c}`; {hint}"),
            ));
        }
    }
    let mut seen: Vec<&Ident> = Vec::new();
    for c in &args.capture {
        if seen.contains(&c) {
            return Err(syn::Error::new(
                c.span(),
                format!("`{c}` is listed twice in `capture(...)`; list it once"),
            ));
        }
        seen.push(c);
    }
    Ok(())
}
