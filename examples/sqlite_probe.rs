#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]
use std::time::Instant;
fn run(label: &str, idx: &str, page: u32) {
    let dir = tempfile::tempdir().unwrap();
    let c = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    c.pragma_update(None, "page_size", page).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "NORMAL").unwrap();
    c.pragma_update(None, "cache_size", -32768).unwrap();
    c.execute_batch(&format!("CREATE TABLE r (tenant TEXT, seq INTEGER, rid TEXT, h BLOB, ts INTEGER, trace TEXT, session TEXT, line BLOB, idk INTEGER, trk INTEGER); {idx}")).unwrap();
    let line = vec![b'x'; 1100];
    let t0 = Instant::now();
    let n = 100_000u64;
    let mut seq = 0;
    let mut c = c;
    while seq < n {
        let tx = c.transaction().unwrap();
        {
            let mut st = tx
                .prepare_cached("INSERT INTO r VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)")
                .unwrap();
            for i in seq..(seq + 1500).min(n) {
                let id = ai_audit::ReceiptId::random();
                let trace = format!("trace-{}", ai_audit::ReceiptId::random());
                let idk = i64::from_le_bytes(id.as_str().as_bytes()[..8].try_into().unwrap());
                let trk = i64::from_le_bytes(trace.as_bytes()[6..14].try_into().unwrap());
                st.execute(rusqlite::params![
                    "t",
                    i as i64,
                    id.as_str(),
                    &[1u8; 32][..],
                    i as i64,
                    trace,
                    "",
                    &line,
                    idk,
                    trk
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
        seq += 1500;
    }
    let dt = t0.elapsed().as_secs_f64();
    println!("{label:40} {:.1} us/row", dt * 1e6 / n as f64);
}
fn main() {
    run("no index 4k", "", 4096);
    run("no index 64k", "", 65536);
    run(
        "int keys 64k",
        "CREATE UNIQUE INDEX a ON r(tenant, seq); CREATE INDEX b ON r(idk); CREATE INDEX c ON r(trk) WHERE trk<>0; CREATE INDEX e ON r(tenant, ts);",
        65536,
    );
    run(
        "int keys 16k",
        "CREATE UNIQUE INDEX a ON r(tenant, seq); CREATE INDEX b ON r(idk); CREATE INDEX c ON r(trk) WHERE trk<>0; CREATE INDEX e ON r(tenant, ts);",
        16384,
    );
}
