//! Property test of the bus with many consumers of one address (an address's consumers
//! are kept in a persistent vector past 32 of them, where a leaving consumer's place is
//! taken by the last one): over random sequences of deployments joining and leaving one
//! shared address,
//! - the address counts exactly the instances deployed;
//! - a publish reaches every one of them;
//! - as many requests in a row as there are consumers reach each consumer exactly once
//!   (round-robin over the current list, none skipped, none twice);
//! - with no consumer left, a request finds no handler.

use std::collections::BTreeSet;

use proptest::prelude::*;
use reactree::DeploymentId;
use reactree::prelude::*;

#[derive(Clone)]
struct Who;
impl Message for Who {
    type Reply = (DeploymentId, usize);
}

const CROWD: Address<Who> = Address::new("proptest.crowd");

struct Member;
impl Component for Member {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&CROWD)?;
        Ok(())
    }
}
impl Handler<Who> for Member {
    async fn handle(&mut self, _: Who, ctx: &mut Context<Self>) -> (DeploymentId, usize) {
        (ctx.deployment_id(), ctx.instance())
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Deploy this many instances, each consuming the address.
    Join(usize),
    /// Undeploy the deployment at this index (modulo those deployed).
    Leave(usize),
    Check,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (1usize..=40).prop_map(Op::Join),
            2 => any::<usize>().prop_map(Op::Leave),
            2 => Just(Op::Check),
        ],
        1..24,
    )
}

fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = Runtime::builder().reactors(2).build().unwrap();
    let bus = runtime.bus().clone();
    let mut deployed: Vec<(DeploymentId, usize)> = Vec::new();
    let mut next = 0;
    for op in ops.into_iter().chain([Op::Check]) {
        match op {
            Op::Join(instances) => {
                next += 1;
                let spec =
                    ChildSpec::new(format!("members-{next}"), || Member).instances(instances);
                let id = runtime.block_on(runtime.deploy(spec)).unwrap();
                deployed.push((id, instances));
            }
            Op::Leave(at) => {
                if !deployed.is_empty() {
                    let (id, _) = deployed.remove(at % deployed.len());
                    runtime.block_on(runtime.undeploy(id)).unwrap();
                }
            }
            Op::Check => {
                let expected: BTreeSet<(DeploymentId, usize)> = deployed
                    .iter()
                    .flat_map(|&(id, instances)| (0..instances).map(move |i| (id, i)))
                    .collect();
                let count = expected.len();
                prop_assert_eq!(bus.consumers(&CROWD), count);
                if count == 0 {
                    let refused = runtime.block_on(bus.request(&CROWD, Who));
                    prop_assert!(matches!(refused, Err(RequestError::NoHandlers(_))));
                    continue;
                }
                prop_assert_eq!(runtime.block_on(bus.publish(&CROWD, Who)).ok(), Some(count));
                let mut reached = BTreeSet::new();
                for _ in 0..count {
                    let who = runtime.block_on(bus.request(&CROWD, Who)).unwrap();
                    prop_assert!(reached.insert(who), "{:?} reached twice", who);
                }
                prop_assert_eq!(reached, expected);
            }
        }
    }
    runtime.shutdown();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn many_consumers_of_one_address_are_each_reached(ops in ops()) {
        check(ops)?;
    }
}
