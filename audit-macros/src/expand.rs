//! Code generation: the function, unchanged but for its body, which runs inside a capture scope
//! of `::ai_audit::__private::capture`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::visit::Visit;
use syn::{GenericArgument, ItemFn, PathArguments, ReturnType, Type};

use crate::args::AuditedArgs;
use crate::validate::named_args;

/// Whether a type is spelled as text: `str`, `String` or `Cow<str>`, behind any references.
fn is_text(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => is_text(&r.elem),
        Type::Paren(p) => is_text(&p.elem),
        Type::Group(g) => is_text(&g.elem),
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
            if s.ident == "str" || s.ident == "String" {
                return matches!(s.arguments, PathArguments::None);
            }
            if s.ident == "Cow"
                && let PathArguments::AngleBracketed(a) = &s.arguments
            {
                return a
                    .args
                    .iter()
                    .any(|g| matches!(g, GenericArgument::Type(t) if is_text(t)));
            }
            false
        }),
        _ => false,
    }
}

/// `T` when `ty` is spelled `…Result<T, …>`.
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(a) = &last.arguments else {
        return None;
    };
    a.args.iter().find_map(|g| match g {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

#[derive(Default)]
struct FindOpaque {
    impl_trait: bool,
    dyn_trait: bool,
}

impl Visit<'_> for FindOpaque {
    fn visit_type_impl_trait(&mut self, _: &syn::TypeImplTrait) {
        self.impl_trait = true;
    }

    fn visit_type_trait_object(&mut self, _: &syn::TypeTraitObject) {
        self.dyn_trait = true;
    }
}

fn find_opaque(ty: &Type) -> FindOpaque {
    let mut v = FindOpaque::default();
    v.visit_type(ty);
    v
}

/// Whether the output is opaque: `impl Trait` or `dyn Trait` somewhere in the type. Such an
/// output is never hashed.
fn is_opaque(ty: &Type) -> bool {
    let v = find_opaque(ty);
    v.impl_trait || v.dyn_trait
}

/// How to turn a value of type `ty` (bound by reference to `value`) into an `Outcome::Ok`.
fn ok_outcome(
    capture: &TokenStream,
    ty: Option<&Type>,
    skip: bool,
    value: &TokenStream,
) -> TokenStream {
    match ty {
        Some(t) if !skip && !is_opaque(t) && !is_unit(t) => {
            if is_text(t) {
                quote!(#capture::Outcome::ok_text(#value))
            } else {
                quote!(#capture::Outcome::ok_json(#value))
            }
        }
        _ => quote!(#capture::Outcome::ok()),
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// The expansion of a valid `#[audited]` function.
pub(crate) fn expand(args: &AuditedArgs, f: &ItemFn) -> TokenStream {
    let root = args
        .krate
        .as_ref()
        .map_or_else(|| quote!(::ai_audit), |p| quote!(#p));
    let capture = quote!(#root::__private::capture);

    let tenant = &args.tenant;
    let name = args
        .name
        .as_ref()
        .map_or_else(|| f.sig.ident.unraw_string(), syn::LitStr::value);
    let mut scope = quote!(#capture::Scope::new(#tenant).name(#name));
    if let Some(m) = &args.model {
        scope.extend(quote!(.model(#m)));
    }
    if let Some(s) = &args.session {
        scope.extend(quote!(.session(#s)));
    }
    if let Some(t) = &args.trace {
        scope.extend(quote!(.trace(#t)));
    }
    if args.fail_retry_on_err {
        scope.extend(quote!(.fail_retry_on_err()));
    }
    let named = named_args(f);
    let single = args.capture.len() == 1;
    for c in &args.capture {
        let text = named
            .iter()
            .find(|(n, _)| *n == c)
            .is_some_and(|(_, ty)| is_text(ty));
        let key = c.unraw_string();
        scope.extend(match (single, text) {
            (true, true) => quote_spanned!(c.span()=> .input_text(&#c)),
            (true, false) => quote_spanned!(c.span()=> .input_json(&#c)),
            (false, true) => quote_spanned!(c.span()=> .input_field_text(#key, &#c)),
            (false, false) => quote_spanned!(c.span()=> .input_field_json(#key, &#c)),
        });
    }

    let ret_ty: Option<&Type> = match &f.sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, t) => Some(t),
    };
    let value = quote!(__audit_value);
    let outcome = match ret_ty.and_then(result_ok_type) {
        Some(ok) => {
            let ok = ok_outcome(&capture, Some(ok), args.skip_output, &value);
            quote! {
                match __audit_result {
                    ::core::result::Result::Ok(#value) => #ok,
                    ::core::result::Result::Err(_) => #capture::Outcome::err(),
                }
            }
        }
        None => {
            let ok = ok_outcome(&capture, ret_ty, args.skip_output, &quote!(__audit_result));
            quote!({ let _ = __audit_result; #ok })
        }
    };

    // An unreachable `return` of the declared type pins the body's type, so `?` and `return`
    // infer as in the original function and type errors point at the user's code.
    let fake_return = match ret_ty {
        Some(t) if !find_opaque(t).impl_trait => quote_spanned! {t.span()=>
            #[allow(
                unreachable_code,
                clippy::diverging_sub_expression,
                clippy::empty_loop,
                clippy::needless_return
            )]
            if false {
                let __audit_fake_return: #t = loop {};
                return __audit_fake_return;
            }
        },
        _ => TokenStream::new(),
    };
    let block = &f.block;
    let body = if f.sig.asyncness.is_some() {
        quote! {
            #scope.wrap(
                async move { #fake_return #block },
                |__audit_result| #outcome,
            ).await
        }
    } else {
        quote! {
            let __audit_guard = #scope.enter();
            #[allow(clippy::redundant_closure_call)]
            let __audit_result = (move || { #fake_return #block })();
            {
                let __audit_result = &__audit_result;
                __audit_guard.finish(#outcome);
            }
            __audit_result
        }
    };
    let attrs = &f.attrs;
    let vis = &f.vis;
    let sig = &f.sig;
    quote_spanned! {Span::call_site()=>
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

trait UnrawString {
    fn unraw_string(&self) -> String;
}

impl UnrawString for syn::Ident {
    fn unraw_string(&self) -> String {
        syn::ext::IdentExt::unraw(self).to_string()
    }
}
