use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;
use crate::SigningKey;
use crate::canonical;
use crate::store::{self, MemoryStore, Store};

fn auditor() -> (Auditor, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = Auditor::builder()
        .signer(SigningKey::generate().unwrap())
        .shared_store(Arc::clone(&store))
        .build()
        .unwrap();
    (a, store)
}

fn receipts(a: &Auditor, store: &Arc<dyn Store>, tenant: &str) -> Vec<canonical::ParsedLine> {
    flush();
    a.flush().unwrap();
    store::receipts(store.as_ref(), &TenantId::new(tenant), 0..u64::MAX)
        .map(|e| e.unwrap().parse().unwrap())
        .collect()
}

#[test]
fn finish_records_output_checks_and_trace() {
    let (a, store) = auditor();
    let g = Scope::new("t1")
        .auditor(a.clone())
        .name("decide")
        .model("m1")
        .input_text("  Hello ")
        .enter();
    check("len", 0.4, 0.5);
    reason("short");
    g.finish(Outcome::ok_text("out"));
    let r = receipts(&a, &store, "t1");
    assert_eq!(r.len(), 1);
    let r = &r[0].receipt;
    assert_eq!(r.action, Action::Allow);
    assert_eq!(r.input_c14n, canonical::canonicalize_input("hello"));
    assert_eq!(r.output_hash, canonical::hash_output("out"));
    assert_eq!(r.model_id, "m1");
    assert_eq!(r.reason_codes, ["decision:decide", "short"]);
    assert_eq!(r.checks.len(), 1);
    assert!(!r.checks[0].fired);
    assert_eq!(r.trace_id.as_str().len(), 32);
}

#[test]
fn drop_without_finish_is_cancelled_and_err_uses_on_err() {
    let (a, store) = auditor();
    drop(Scope::new("t2").auditor(a.clone()).enter());
    Scope::new("t2")
        .auditor(a.clone())
        .fail_retry_on_err()
        .enter()
        .finish(Outcome::err());
    let r = receipts(&a, &store, "t2");
    assert_eq!(r[0].receipt.reason_codes, ["cancelled"]);
    assert_eq!(r[0].receipt.action, Action::FailRetry);
    assert_eq!(r[1].receipt.reason_codes, ["error"]);
    assert_eq!(r[1].receipt.action, Action::FailRetry);
}

#[test]
fn fields_hash_as_one_object() {
    let (a, store) = auditor();
    Scope::new("t3")
        .auditor(a.clone())
        .input_field_text("b", "x")
        .input_field_text("a", "y")
        .enter()
        .finish(Outcome::ok());
    let r = receipts(&a, &store, "t3");
    assert_eq!(
        r[0].receipt.input_c14n,
        canonical::sha256_hex(br#"{"a":"y","b":"x"}"#)
    );
}

#[test]
fn nested_scopes_share_the_outer_trace() {
    let (a, store) = auditor();
    let outer = Scope::new("t4").auditor(a.clone()).trace("tr-1").enter();
    let inner = Scope::new("t4").auditor(a.clone()).enter();
    check("inner-check", 1.0, 0.5);
    inner.finish(Outcome::ok());
    check("outer-check", 1.0, 0.5);
    outer.finish(Outcome::ok());
    let r = receipts(&a, &store, "t4");
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|p| p.receipt.trace_id.as_str() == "tr-1"));
    assert_eq!(r[0].receipt.checks[0].name, "inner-check");
    assert_eq!(r[1].receipt.checks[0].name, "outer-check");
}

#[test]
fn calls_outside_a_scope_are_counted() {
    let before = stats().unattached;
    std::thread::spawn(|| check("nowhere", 1.0, 1.0))
        .join()
        .unwrap();
    assert!(stats().unattached > before);
}

#[test]
fn a_future_is_current_while_polled_and_cancelled_when_dropped() {
    let (a, store) = auditor();
    let mut yielded = false;
    let fut = Scope::new("t5").auditor(a.clone()).wrap(
        std::future::poll_fn(move |cx| {
            check("in-poll", 1.0, 0.5);
            if yielded {
                Poll::Ready(Ok::<u32, ()>(7))
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }),
        |r| match r {
            Ok(_) => Outcome::ok(),
            Err(()) => Outcome::err(),
        },
    );
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    check("between-polls", 1.0, 0.5); // not in the scope: counted, not attached
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));

    let pending = Scope::new("t5")
        .auditor(a.clone())
        .wrap(std::future::pending::<()>(), |()| Outcome::ok());
    let mut pending = Box::pin(pending);
    assert!(pending.as_mut().poll(&mut cx).is_pending());
    drop(pending);

    let r = receipts(&a, &store, "t5");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].receipt.checks.len(), 2);
    assert_eq!(r[0].receipt.action, Action::Allow);
    assert_eq!(r[1].receipt.reason_codes, ["cancelled"]);
}
