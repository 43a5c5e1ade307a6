//! Malachite's misbehaviour reports as cpc-consensus [`Evidence`]: the same signed messages in
//! a form the node keeps, gossips and serves, checkable without Malachite.

use cpc_consensus::evidence::{Evidence, SignedChoice, SignedProposalOf, VoteKind};
use cpc_primitives::{H256, Signature};
use malachitebft_app::types::MisbehaviorEvidence;
use malachitebft_app::types::core::{NilOrVal, Round, SignedProposal, SignedVote, VoteType};

use crate::context::{CpcContext, Vote};

fn round(r: Round) -> Option<u32> {
    r.as_u32()
}

fn choice(v: &SignedVote<CpcContext>) -> SignedChoice {
    SignedChoice {
        block: match &v.message.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(id) => Some(H256(id.0)),
        },
        signature: Signature(v.signature.0),
    }
}

fn double_vote(a: &SignedVote<CpcContext>, b: &SignedVote<CpcContext>) -> Option<Evidence> {
    let m: &Vote = &a.message;
    Some(Evidence::DoubleVote {
        validator: m.validator.valcons(),
        height: m.height.0,
        round: round(m.round)?,
        kind: match m.vote_type {
            VoteType::Prevote => VoteKind::Prevote,
            VoteType::Precommit => VoteKind::Precommit,
        },
        first: choice(a),
        second: choice(b),
    })
}

fn proposal_of(p: &SignedProposal<CpcContext>) -> SignedProposalOf {
    SignedProposalOf {
        block: H256(p.message.value.0.0),
        pol_round: round(p.message.pol_round),
        signature: Signature(p.signature.0),
    }
}

fn double_proposal(
    a: &SignedProposal<CpcContext>,
    b: &SignedProposal<CpcContext>,
) -> Option<Evidence> {
    Some(Evidence::DoubleProposal {
        validator: a.message.proposer.valcons(),
        height: a.message.height.0,
        round: round(a.message.round)?,
        first: proposal_of(a),
        second: proposal_of(b),
    })
}

/// Every double vote and double proposal in `ev` (a nil round proves nothing and is skipped).
pub fn convert(ev: &MisbehaviorEvidence<CpcContext>) -> Vec<Evidence> {
    let mut out = Vec::new();
    for (_, pairs) in ev.votes.iter() {
        out.extend(pairs.iter().filter_map(|(a, b)| double_vote(a, b)));
    }
    for (_, pairs) in ev.proposals.iter() {
        out.extend(pairs.iter().filter_map(|(a, b)| double_proposal(a, b)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{BlockId, BlockValue, Height, Proposal, Sig, ValAddr};
    use cpc_primitives::SecretKey;

    #[test]
    fn malachite_signed_equivocations_verify_as_evidence() {
        // Signed with consensus's own signing bytes (context.rs), checked by cpc-consensus's.
        let k = SecretKey::from_bytes(&[8; 32]);
        let me = ValAddr::from_public_key(&k.public_key());
        let set = cpc_consensus::ValidatorSet::new(vec![k.public_key()]);
        let vote = |value| {
            let v = Vote::new(VoteType::Precommit, Height(3), Round::new(2), value, me);
            let s = Sig(k.sign(&v.signing_bytes()).0);
            SignedVote::new(v, s)
        };
        let e = double_vote(&vote(NilOrVal::Val(BlockId([1; 32]))), &vote(NilOrVal::Nil)).unwrap();
        assert_eq!(e.verify(&set), Ok(()));
        let prop = |b: u8, pol: Round| {
            let p = Proposal {
                height: Height(3),
                round: Round::new(0),
                value: BlockValue(BlockId([b; 32])),
                pol_round: pol,
                proposer: me,
            };
            let s = Sig(k.sign(&p.signing_bytes()).0);
            SignedProposal::new(p, s)
        };
        let e = double_proposal(&prop(1, Round::Nil), &prop(2, Round::new(0))).unwrap();
        assert_eq!(e.verify(&set), Ok(()));
        assert_eq!(e.height(), 3);
    }
}
