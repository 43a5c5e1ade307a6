//! n = 1024 products on one thread: `one_product` prints the fastest of 15 (ms);
//! `one_product 1` does a single product (for `valgrind --tool=callgrind` instruction counts).
fn main() {
    let n = 1024;
    let (a, b) = cpc_poc::generate_matrices(&[7u8; 32], n);
    let runs = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(15);
    let mut best = f64::MAX;
    let mut check = 0i64;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        let c = cpc_poc::matmul(&a, &b, n);
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        check += c[12345] as i64;
    }
    println!("{} min {best:.2} ms (checksum {check})", cpc_poc::kernel_name());
}
