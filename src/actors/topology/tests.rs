//! Building the topology from nodes' answers: supervision, data edges across nodes, control
//! edges by sending node.

use super::*;
use crate::actors::remote::{MessageInfo, SenderFigures};
use crate::actors::subtask::figures::{InputFigures, SubtaskIdentity, SubtaskInfo};
use crate::graph::ExecutionState;

fn actor(node: &str, path: &str, parent: Option<&str>) -> ActorInfo {
    let mut a = ActorInfo::idle(node, path, "Test");
    a.parent = parent.map(str::to_string);
    a
}

fn subtask(node: &str, path: &str, attempt: &str, inputs: &[(&str, u64)]) -> ActorInfo {
    let mut a = actor(node, path, Some("/slot"));
    a.kind = "Subtask".into();
    a.subtask = Some(SubtaskInfo {
        identity: SubtaskIdentity {
            job_id: "j".into(),
            job_name: "job".into(),
            vertex_id: "v".into(),
            vertex: "Map".into(),
            subtask: 0,
            attempt: attempt.into(),
        },
        status: ExecutionState::Running,
        inputs: inputs
            .iter()
            .map(|(producer, buffers)| InputFigures {
                producer: (*producer).into(),
                flow: FlowFigures {
                    buffers: *buffers,
                    records: buffers * 10,
                    buffers_per_second: *buffers as f64,
                    ..FlowFigures::default()
                },
                queued: 0,
                capacity: 4,
                credit: 2,
            })
            .collect(),
        outputs: Vec::new(),
    });
    a
}

fn node(name: &str, actors: Vec<ActorInfo>) -> NodeActors {
    NodeActors {
        node: name.into(),
        role: "taskmanager",
        status: NodeStatus::Ok,
        error: None,
        took_ms: 1,
        actors,
    }
}

#[test]
fn data_edges_join_producer_and_consumer_across_nodes_summing_their_channels() {
    let t = Topology::build(vec![
        node("tm-a", vec![subtask("tm-a", "/a/src", "p1", &[])]),
        node(
            "tm-b",
            vec![subtask(
                "tm-b",
                "/b/sink",
                "c1",
                &[("p1", 3), ("p1", 4), ("gone", 9)],
            )],
        ),
    ]);
    assert_eq!(t.actors.len(), 2);
    let data: Vec<&Edge> = t
        .edges
        .iter()
        .filter(|e| matches!(e, Edge::Data { .. }))
        .collect();
    assert_eq!(
        data.len(),
        1,
        "a producer not in the topology gives no edge"
    );
    let Edge::Data {
        from,
        to,
        channels,
        flow,
    } = data[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (from.as_str(), to.as_str(), *channels),
        ("/a/src", "/b/sink", 2)
    );
    assert_eq!(flow.buffers, 7);
    assert_eq!(flow.records, 70);
    assert!((flow.buffers_per_second - 7.0).abs() < 1e-9);
}

#[test]
fn supervision_and_control_edges() {
    let mut tm = actor("tm-a", "/tm", None);
    tm.messages.push(MessageInfo {
        tag: "rill.tm.Heartbeat".into(),
        count: 5,
        handler_micros: 10,
        per_second: 1.0,
        from: vec![SenderFigures {
            node: "jm".into(),
            count: 5,
            per_second: 1.0,
        }],
    });
    let slot = actor("tm-a", "/tm/slot-0", Some("/tm"));
    let t = Topology::build(vec![node("tm-a", vec![tm, slot])]);
    assert!(t.edges.contains(&Edge::Supervision {
        from: "/tm".into(),
        to: "/tm/slot-0".into()
    }));
    assert!(t.edges.contains(&Edge::Control {
        from_node: "jm".into(),
        to: "/tm".into(),
        messages: vec![ControlFlow {
            tag: "rill.tm.Heartbeat".into(),
            count: 5,
            per_second: 1.0
        }],
    }));
}
