//! The bare-download baseline of `scripts/bench-e2e.sh`: fetches every `ListRecords` page of
//! an OAI-PMH endpoint with one keep-alive HTTP client, following resumption tokens, and
//! parses nothing else (the token is cut out with a substring search, records are counted by
//! their `<record>` tags). Prints `records seconds bytes` on one line.
//!
//! `cargo run --release --example bench_download -- http://127.0.0.1:8090/oai`

use std::time::Instant;

fn token(body: &str) -> Option<&str> {
    let start = body.rfind("<resumptionToken")?;
    let rest = &body[start..];
    let open_end = rest.find('>')?;
    if rest[..open_end].ends_with('/') {
        return None;
    }
    let text = &rest[open_end + 1..];
    let t = text[..text.find('<')?].trim();
    (!t.is_empty()).then_some(t)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .ok_or("usage: bench_download BASE_URL")?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (mut records, mut bytes) = (0usize, 0usize);
    let mut query = vec![
        ("verb", "ListRecords".to_owned()),
        ("metadataPrefix", "oai_dc".to_owned()),
    ];
    loop {
        let body = client
            .get(url::Url::parse_with_params(&base, &query)?)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        bytes += body.len();
        records += body.matches("<record>").count();
        match token(&body) {
            Some(t) => {
                query = vec![
                    ("verb", "ListRecords".to_owned()),
                    ("resumptionToken", t.to_owned()),
                ]
            }
            None => break,
        }
    }
    println!("{records} {:.3} {bytes}", started.elapsed().as_secs_f64());
    Ok(())
}
