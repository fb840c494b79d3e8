//! The audited OpenAI Chat Completions client (feature `openai`).
//!
//! ```no_run
//! use audit_runtime::llm::{openai, CallContext};
//! use audit_runtime::sink::AuditSink;
//! use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
//! let client = openai::client(AuditSink::new(auditor))
//!     .tenant("bank-eu") // for calls without a CallContext; there is no implicit tenant
//!     .base_url("http://127.0.0.1:4010/v1")
//!     .api_key(std::env::var("OPENAI_API_KEY")?)
//!     .build()?;
//! let body = serde_json::json!({
//!     "model": "gpt-4o-mini",
//!     "messages": [{"role": "user", "content": "hello"}],
//! });
//! let answer = client.chat_in(&CallContext::new("bank-eu"), &body).await?;
//! println!("{} (receipt {:?})", answer.text(), answer.receipt());
//!
//! let mut stream = client.chat_stream(&body).await?;
//! while let Some(event) = stream.next().await {
//!     print!("{}", event?.text);
//! }
//! # Ok(()) }
//! ```

use super::{Api, ClientBuilder};
use crate::sink::AuditSink;

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// A client builder for OpenAI Chat Completions at [`DEFAULT_BASE_URL`].
pub fn client(sink: AuditSink) -> ClientBuilder {
    ClientBuilder::new(Api::OpenAi, sink, DEFAULT_BASE_URL)
}
