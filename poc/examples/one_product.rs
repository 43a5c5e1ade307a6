//! n = 1024 products on one thread: `one_product` prints the fastest of 15 (ms) with the best
//! kernel; `one_product RUNS KERNEL` with a chosen one (`portable`, `avx2`, `avx512vnni`);
//! `one_product 1` does a single product (for `valgrind --tool=callgrind` instruction counts).
use cpc_poc::Kernel;

fn main() {
    let n = 1024;
    let (a, b) = cpc_poc::generate_matrices(&[7u8; 32], n);
    let mut args = std::env::args().skip(1);
    let runs = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
    let kernel = match args.next() {
        Some(name) => match Kernel::ALL.into_iter().find(|k| k.name() == name) {
            Some(k) => k,
            None => {
                eprintln!("unknown kernel {name:?}: expected portable, avx2 or avx512vnni");
                std::process::exit(2);
            }
        },
        None => Kernel::best(),
    };
    let mut best = f64::MAX;
    let mut check = 0i64;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        let Some(c) = cpc_poc::matmul_with(kernel, &a, &b, n) else {
            eprintln!("this CPU has no {} kernel", kernel.name());
            std::process::exit(1);
        };
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        check += c[12345] as i64;
    }
    println!("{} min {best:.2} ms (checksum {check})", kernel.name());
}
