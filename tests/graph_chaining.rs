//! Flink's chaining rules, one test each: what breaks a chain and what does not.

use rill::api::StreamEnv;
use rill::graph::{GraphError, JobGraph, PartitionerKind};

fn plan(env: &StreamEnv) -> JobGraph {
    JobGraph::from_stream_graph(&env.stream_graph(None, 1).expect("valid"))
}

fn names(jg: &JobGraph) -> Vec<String> {
    jg.vertices.iter().map(|v| v.name.clone()).collect()
}

#[test]
fn forward_edges_of_equal_parallelism_chain() {
    let env = StreamEnv::new("chain");
    env.sequence(0, 9)
        .map(|x: u64| x)
        .filter(|x: &u64| x % 2 == 0)
        .collect();
    let jg = plan(&env);
    assert_eq!(
        names(&jg),
        vec!["Source: Sequence -> Map -> Filter -> Sink: Collect"]
    );
    assert!(jg.edges.is_empty());
}

#[test]
fn a_parallelism_change_breaks_the_chain_and_rebalances() {
    let env = StreamEnv::new("p");
    env.sequence(0, 9)
        .set_parallelism(2)
        .map(|x: u64| x)
        .set_parallelism(3)
        .collect();
    let jg = plan(&env);
    assert_eq!(names(&jg), vec!["Source: Sequence", "Map", "Sink: Collect"]);
    assert!(jg
        .edges
        .iter()
        .all(|e| e.partitioner == PartitionerKind::Rebalance));
}

#[test]
fn a_non_forward_edge_breaks_the_chain() {
    let env = StreamEnv::new("nf");
    env.sequence(0, 9).rebalance().map(|x: u64| x).collect();
    let jg = plan(&env);
    assert_eq!(names(&jg), vec!["Source: Sequence", "Map -> Sink: Collect"]);
    assert_eq!(jg.edges[0].partitioner, PartitionerKind::Rebalance);
}

#[test]
fn two_inputs_break_the_chain() {
    let env = StreamEnv::new("two");
    let a = env.sequence(0, 9);
    let b = env.from_elements(vec!["x".to_string()]);
    a.connect(&b)
        .co_map(|x: u64| x.to_string(), |s: String| s)
        .collect();
    let jg = plan(&env);
    assert_eq!(
        names(&jg),
        vec![
            "Source: Sequence",
            "Source: Collection",
            "Co-Map -> Sink: Collect"
        ]
    );
    assert_eq!(jg.vertices[2].head_inputs, 2);
    let env = StreamEnv::new("union");
    env.sequence(0, 9)
        .union(&env.sequence(10, 19))
        .map(|x: u64| x)
        .collect();
    assert_eq!(
        plan(&env).vertices.len(),
        3,
        "a union's consumer has two input edges"
    );
}

#[test]
fn disable_chaining_isolates_the_operator() {
    let env = StreamEnv::new("never");
    env.sequence(0, 9)
        .map(|x: u64| x)
        .disable_chaining()
        .filter(|_: &u64| true)
        .collect();
    assert_eq!(
        names(&plan(&env)),
        vec!["Source: Sequence", "Map", "Filter -> Sink: Collect"]
    );
}

#[test]
fn start_new_chain_begins_a_chain_that_successors_join() {
    let env = StreamEnv::new("head");
    env.sequence(0, 9)
        .map(|x: u64| x)
        .start_new_chain()
        .filter(|_: &u64| true)
        .collect();
    assert_eq!(
        names(&plan(&env)),
        vec!["Source: Sequence", "Map -> Filter -> Sink: Collect"]
    );
}

#[test]
fn different_slot_sharing_groups_break_the_chain_and_need_their_own_slots() {
    let env = StreamEnv::new("ssg");
    env.set_parallelism(2);
    env.sequence(0, 9)
        .map(|x: u64| x)
        .slot_sharing_group("other")
        .filter(|_: &u64| true)
        .collect();
    let jg = plan(&env);
    assert_eq!(
        names(&jg),
        vec!["Source: Sequence", "Map -> Filter -> Sink: Collect"]
    );
    assert_eq!(
        jg.vertices[1].slot_sharing_group, "other",
        "successors inherit the group"
    );
    assert_eq!(jg.slots_needed(), 4);
}

#[test]
fn disabling_chaining_for_the_job_chains_nothing() {
    let env = StreamEnv::new("off");
    env.disable_operator_chaining();
    env.sequence(0, 9).map(|x: u64| x).collect();
    assert_eq!(plan(&env).vertices.len(), 3);
}

#[test]
fn forward_between_different_parallelism_is_an_error() {
    let env = StreamEnv::new("bad");
    env.sequence(0, 9)
        .set_parallelism(2)
        .forward()
        .map(|x: u64| x)
        .set_parallelism(3)
        .collect();
    let e = env.stream_graph(None, 1).expect_err("invalid");
    assert!(
        matches!(e, GraphError::ForwardParallelismMismatch { .. }),
        "{e}"
    );
}

#[test]
fn parallelism_precedence_is_operator_job_submission_default() {
    let env = StreamEnv::new("prec");
    env.sequence(0, 9)
        .map(|x: u64| x)
        .set_parallelism(5)
        .collect();
    let sg = env.stream_graph(Some(3), 1).expect("valid");
    assert_eq!(
        sg.nodes.iter().map(|n| n.parallelism).collect::<Vec<_>>(),
        vec![3, 5, 3]
    );
    env.set_parallelism(2);
    let sg = env.stream_graph(Some(3), 1).expect("valid");
    assert_eq!(
        sg.nodes.iter().map(|n| n.parallelism).collect::<Vec<_>>(),
        vec![2, 5, 2]
    );
    let sg = StreamEnv::new("d");
    sg.sequence(0, 1).collect();
    assert_eq!(
        sg.stream_graph(None, 4).expect("valid").nodes[0].parallelism,
        4
    );
}
