//! A window TVF that no aggregate fused with: each row once per window it falls in, the
//! window's `window_start`, `window_end` and `window_time` appended (by its rowtime, or by the
//! clock for windows of processing time).

use std::sync::Arc;

use crate::api::{Collector, DataStream, StreamEnv};
use crate::data::UserError;
use crate::sql::lower::aggregate::Cumulative;
use crate::sql::lower::lower;
use crate::sql::plan::{Node, Plan, WindowKind};
use crate::sql::types::{Row, Value};
use crate::sql::SqlError;
use crate::windowing::assigners::Assigner;

/// Appends the `(start, end)` of each window a timestamp falls in.
type WindowsOf = Arc<dyn Fn(i64, &mut Vec<(i64, i64)>) + Send + Sync>;

/// Lowers a window TVF that no aggregate fused with: each row once per window, the window's
/// start, end and time appended.
pub fn lower_window_tvf(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    let Node::WindowTvf {
        input,
        window,
        proctime,
        ..
    } = &plan.node
    else {
        return Err(SqlError::Validation("not a window TVF".into()));
    };
    let proctime = *proctime;
    let windows: WindowsOf = match *window {
        WindowKind::Tumble { size, offset } => Arc::new(move |t, out| {
            let s = t - (t - offset).rem_euclid(size);
            out.push((s, s + size));
        }),
        WindowKind::Hop {
            slide,
            size,
            offset,
        } => Arc::new(move |t, out| {
            let last = t - (t - offset).rem_euclid(slide);
            let mut s = last;
            while s > t - size {
                out.push((s, s + size));
                s -= slide;
            }
        }),
        WindowKind::Cumulate { step, size } => Arc::new(move |t, out| {
            let mut ws = Vec::new();
            let cumulative = Cumulative {
                step,
                size,
                proctime: false,
            };
            let _ = cumulative.assign(&Row::default(), t, 0, &mut ws);
            out.extend(ws.into_iter().map(|w| (w.start, w.end)));
        }),
        WindowKind::Session { .. } => {
            return Err(SqlError::NotSupported(
                "a SESSION window TVF without a GROUP BY window_start, window_end".into(),
            ))
        }
    };
    let stream = lower(input, env)?;
    Ok(stream
        .process(
            move |row: Row,
                  ctx: &mut crate::api::ProcessContext<'_>,
                  out: &mut Collector<'_, Row>|
                  -> Result<(), UserError> {
                let t = if proctime {
                    ctx.current_processing_time()
                } else {
                    let Some(t) = ctx.timestamp() else {
                        return Ok(());
                    };
                    t
                };
                let mut ws = Vec::with_capacity(4);
                windows(t, &mut ws);
                for (s, e) in ws {
                    let mut values = Vec::with_capacity(row.values.len() + 3);
                    values.extend_from_slice(&row.values);
                    values.push(Value::Timestamp(s));
                    values.push(Value::Timestamp(e));
                    values.push(Value::Timestamp(e - 1));
                    out.collect(Row {
                        kind: row.kind,
                        values,
                    });
                }
                Ok(())
            },
        )
        .name(&format!("WindowTableFunction(window=[{window}])")))
}
