//! Known answers for [`crate::GpuSolver::self_test`]: the protocol's conformance vectors
//! (../shared/vectors/protocol-v2.json, "synthetic") at n = 64 and n = 1024.

pub(crate) struct Case {
    pub n: usize,
    pub k: usize,
    pub tip: &'static str,
    pub worker: &'static str,
    pub nonce: u64,
    /// The vector's result_hash for `nonce`.
    pub result_hash: &'static str,
    /// Nonces solved from `nonce` on (the first is the vector; all are compared with the CPU).
    pub extra_nonces: usize,
}

pub(crate) const CASES: &[Case] = &[
    Case {
        n: 64,
        k: 8,
        tip: "1c338e028135ac63caf9504ed1e665b18af887f25d48095e621348140c393f06",
        worker: "cpc16ncl0w4za9dvrqpk49pgmwhwwye83qju0jk35a",
        nonce: 0,
        result_hash: "401e8437713f3771580afa2047c869ab177b802fd1f1c0ad07a2b029c1b66949",
        extra_nonces: 4,
    },
    Case {
        n: 1024,
        k: 8,
        tip: "1c338e028135ac63caf9504ed1e665b18af887f25d48095e621348140c393f06",
        worker: "cpc16ncl0w4za9dvrqpk49pgmwhwwye83qju0jk35a",
        nonce: 7,
        result_hash: "9e4def031569bbc4cf8bfc78fe1e7dd7dd6887e4f15847df53da2afb711fd5ed",
        extra_nonces: 2,
    },
];
