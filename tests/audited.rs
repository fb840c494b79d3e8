//! `#[audited]` end to end: every exit path leaves exactly one receipt with the right action and
//! reason; nested calls share a trace; async futures are `Send` when their bodies are.
#![cfg(feature = "macros")]
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use ai_audit::canonical::{self, ParsedLine};
use ai_audit::store::{self, MemoryStore, Store};
use ai_audit::{Action, Auditor, SigningKey, TenantId, audited, capture};

/// The process-global default auditor, shared by every test of this binary; each test uses its
/// own tenant.
fn store() -> &'static Arc<dyn Store> {
    static STORE: OnceLock<Arc<dyn Store>> = OnceLock::new();
    STORE.get_or_init(|| {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        capture::set_default(
            Auditor::builder()
                .signer(SigningKey::generate().unwrap())
                .shared_store(Arc::clone(&store))
                .build()
                .unwrap(),
        );
        store
    })
}

fn receipts(tenant: &str) -> Vec<ParsedLine> {
    let store = store();
    capture::flush();
    capture::default().unwrap().flush().unwrap();
    store::receipts(store.as_ref(), &TenantId::new(tenant), 0..u64::MAX)
        .map(|e| e.unwrap().parse().unwrap())
        .collect()
}

fn only(tenant: &str) -> ai_audit::Receipt {
    let mut r = receipts(tenant);
    assert_eq!(r.len(), 1, "exactly one receipt for {tenant}");
    r.remove(0).receipt
}

#[derive(Debug, PartialEq)]
struct Declined;

#[audited(tenant = tenant, capture(text), model = "m-1")]
fn decide(tenant: &str, text: &str, risk: f64) -> Result<String, Declined> {
    ai_audit::check("risk", risk, 0.7);
    if risk >= 0.7 {
        ai_audit::reason("too_risky");
        return Err(Declined);
    }
    Ok(text.to_uppercase())
}

#[audited(tenant = "retry-tenant", on_err = "fail_retry", skip_output)]
fn flaky(fail: bool) -> Result<u32, Declined> {
    if fail { Err(Declined) } else { Ok(1) }
}

fn parse_number(s: &str) -> Result<u32, Declined> {
    s.parse().map_err(|_| Declined)
}

#[audited(tenant = "early-q", name = "parse_twice")]
fn early_question_mark(a: &str, b: &str) -> Result<u32, Declined> {
    let x = parse_number(a)?;
    let y = parse_number(b)?;
    Ok(x + y)
}

#[audited(tenant = "panics")]
fn panics(boom: bool) -> u32 {
    assert!(!boom, "boom");
    3
}

#[test]
fn ok_is_allow_with_input_and_output_hashes() {
    store(); // installs the default auditor
    assert_eq!(
        decide("t-ok", "  Approve ME ", 0.1),
        Ok("  APPROVE ME ".to_owned())
    );
    let r = only("t-ok");
    assert_eq!(r.action, Action::Allow);
    assert_eq!(r.input_c14n, canonical::canonicalize_input("approve me"));
    assert_eq!(r.output_hash, canonical::hash_output("  APPROVE ME "));
    assert_eq!(r.model_id, "m-1");
    assert_eq!(r.reason_codes, ["decision:decide"]);
    assert_eq!(r.checks.len(), 1);
    assert!(!r.checks[0].fired);
}

#[test]
fn err_is_reject_by_default() {
    store(); // installs the default auditor
    assert_eq!(decide("t-err", "x", 0.9), Err(Declined));
    let r = only("t-err");
    assert_eq!(r.action, Action::Reject);
    assert_eq!(r.reason_codes, ["decision:decide", "too_risky", "error"]);
    assert!(r.checks[0].fired);
    assert_eq!(r.output_hash, "");
}

#[test]
fn err_is_fail_retry_when_asked_and_output_is_skipped() {
    store(); // installs the default auditor
    assert!(flaky(true).is_err());
    assert_eq!(flaky(false), Ok(1));
    let r = receipts("retry-tenant");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].receipt.action, Action::FailRetry);
    assert_eq!(r[0].receipt.reason_codes, ["decision:flaky", "error"]);
    assert_eq!(r[1].receipt.action, Action::Allow);
    assert_eq!(r[1].receipt.output_hash, "");
}

#[test]
fn early_question_mark_is_an_err_exit() {
    store(); // installs the default auditor
    assert_eq!(early_question_mark("1", "x"), Err(Declined));
    let r = only("early-q");
    assert_eq!(r.action, Action::Reject);
    assert_eq!(r.reason_codes, ["decision:parse_twice", "error"]);
}

#[test]
fn a_panic_records_fail_retry_panicked_and_keeps_unwinding() {
    store(); // installs the default auditor
    let caught = std::panic::catch_unwind(|| panics(true));
    assert!(caught.is_err());
    let r = only("panics");
    assert_eq!(r.action, Action::FailRetry);
    assert_eq!(r.reason_codes, ["decision:panics", "panicked"]);
}

#[audited(tenant = "nested", trace = "trace-from-outer")]
fn outer() -> u32 {
    ai_audit::check("outer", 1.0, 0.5);
    inner() + inner()
}

#[audited(tenant = "nested")]
fn inner() -> u32 {
    ai_audit::check("inner", 0.0, 0.5);
    1
}

#[test]
fn nested_calls_give_separate_receipts_with_one_trace() {
    store(); // installs the default auditor
    assert_eq!(outer(), 2);
    let r = receipts("nested");
    assert_eq!(r.len(), 3);
    assert!(
        r.iter()
            .all(|p| p.receipt.trace_id.as_str() == "trace-from-outer")
    );
    let names: Vec<_> = r
        .iter()
        .map(|p| p.receipt.checks[0].name.as_str())
        .collect();
    assert_eq!(names, ["inner", "inner", "outer"]);
}

#[derive(serde::Serialize)]
struct Application {
    income: u64,
    amount: u64,
}

#[audited(tenant = "json", capture(app))]
fn score(app: &Application) -> f64 {
    app.amount as f64 / app.income as f64
}

#[audited(tenant = "fields", capture(name, app), skip_output)]
fn two_inputs(name: String, app: Application) -> bool {
    name.len() as u64 > app.amount
}

#[test]
fn serialize_inputs_and_outputs_hash_as_canonical_json() {
    store(); // installs the default auditor
    let s = score(&Application {
        income: 100,
        amount: 25,
    });
    let r = only("json");
    assert_eq!(
        r.input_c14n,
        canonical::sha256_hex(br#"{"amount":25,"income":100}"#)
    );
    assert_eq!(r.output_hash, canonical::sha256_hex(b"0.25"));
    assert!((s - 0.25).abs() < f64::EPSILON);

    two_inputs(
        "Ann".to_owned(),
        Application {
            income: 1,
            amount: 2,
        },
    );
    let r = only("fields");
    assert_eq!(
        r.input_c14n,
        canonical::sha256_hex(br#"{"app":{"amount":2,"income":1},"name":"Ann"}"#)
    );
}

#[test]
fn set_model_in_the_body_overrides_and_calls_outside_are_counted() {
    store(); // installs the default auditor
    #[audited(tenant = "model", model = "declared")]
    fn pick() {
        ai_audit::set_model("chosen-at-runtime");
    }
    pick();
    assert_eq!(only("model").model_id, "chosen-at-runtime");
    let before = capture::stats().unattached;
    ai_audit::reason("nowhere");
    assert!(capture::stats().unattached > before);
}

// ---- async ----

#[audited(tenant = tenant, capture(text))]
async fn decide_async(tenant: &'static str, text: String, wait: bool) -> Result<usize, Declined> {
    if wait {
        Yield(false).await;
    }
    ai_audit::check("after-await", 1.0, 0.5);
    let n = inner_async().await;
    if text.is_empty() {
        return Err(Declined);
    }
    Ok(text.len() + n)
}

#[audited(tenant = "async-inner")]
async fn inner_async() -> usize {
    Yield(false).await;
    ai_audit::check("inner-async", 1.0, 0.5);
    1
}

/// A future that is pending once.
struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn async_fns_record_every_exit_and_share_the_trace_across_awaits() {
    store(); // installs the default auditor
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let ok = rt
        .block_on(rt.spawn(assert_send(decide_async(
            "async-ok",
            "abc".to_owned(),
            true,
        ))))
        .unwrap();
    assert_eq!(ok, Ok(4));
    let err = rt.block_on(decide_async("async-err", String::new(), false));
    assert_eq!(err, Err(Declined));

    let ok = only("async-ok");
    assert_eq!(ok.action, Action::Allow);
    assert_eq!(ok.input_c14n, canonical::canonicalize_input("abc"));
    assert_eq!(ok.output_hash, canonical::sha256_hex(b"4"));
    assert_eq!(
        ok.checks.len(),
        1,
        "the inner call's check stays in its own receipt"
    );
    assert_eq!(ok.checks[0].name, "after-await");
    let err = only("async-err");
    assert_eq!(err.action, Action::Reject);
    assert_eq!(err.reason_codes, ["decision:decide_async", "error"]);

    let inner = receipts("async-inner");
    assert_eq!(inner.len(), 2);
    assert_eq!(inner[0].receipt.checks[0].name, "inner-async");
    let traces: Vec<_> = inner.iter().map(|p| p.receipt.trace_id.clone()).collect();
    assert!(traces.contains(&ok.trace_id));
    assert!(traces.contains(&err.trace_id));
    assert_ne!(ok.trace_id, err.trace_id);
}

#[test]
fn a_future_dropped_before_completion_records_cancelled() {
    store(); // installs the default auditor
    let mut fut = Box::pin(decide_async("async-cancel", "abc".to_owned(), true));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    drop(fut);
    let r = only("async-cancel");
    assert_eq!(r.action, Action::FailRetry);
    assert_eq!(r.reason_codes, ["decision:decide_async", "cancelled"]);
    assert_eq!(r.input_c14n, canonical::canonicalize_input("abc"));
}

#[audited(tenant = "async-panic")]
async fn panics_async() -> u32 {
    Yield(false).await;
    panic!("boom");
}

#[test]
fn a_panic_in_an_async_body_records_panicked() {
    store(); // installs the default auditor
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let joined = rt.block_on(rt.spawn(panics_async()));
    assert!(joined.unwrap_err().is_panic());
    let r = only("async-panic");
    assert_eq!(r.action, Action::FailRetry);
    assert_eq!(r.reason_codes, ["decision:panics_async", "panicked"]);
}
