//! Users' scalar functions, written in Rust and registered in their own `rill` binary:
//!
//! ```no_run
//! use rill::jobs::JobRegistry;
//! use rill::sql::functions::udf::ScalarUdf;
//! use rill::sql::types::{DataType, Value};
//!
//! fn main() -> std::process::ExitCode {
//!     let double_it = ScalarUdf::new("double_it", &[DataType::BigInt], DataType::BigInt, |args| {
//!         Ok(match args[0] {
//!             Value::Int(v) => Value::Int(v.wrapping_mul(2)),
//!             _ => Value::Null,
//!         })
//!     });
//!     rill::cli::main_with(JobRegistry::bundled().with_function(double_it))
//! }
//! ```
//!
//! `main_with` registers the binary's functions in the process, so the same binary run as a
//! JobManager, a TaskManager, `rill sql` or `rill local` knows them. A registered function is
//! called by its name, as Flink's temporary system functions are, and `CREATE FUNCTION f AS
//! 'identifier'` names it again in a session (the identifier is the function's own, by
//! default its name; a port of a Flink job may register it under the Java class name its
//! scripts use). Its arguments are checked against its signature when a statement is planned:
//! each argument has the declared type, or is an integer where an integer is declared, or is
//! `NULL`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

use crate::sql::functions::{EvalError, FunctionError, ScalarEval, ScalarFunction};
use crate::sql::types::{DataType, Value};

/// A scalar function written in Rust.
#[derive(Clone)]
pub struct ScalarUdf {
    name: &'static str,
    identifier: String,
    args: Vec<DataType>,
    returns: DataType,
    deterministic: bool,
    eval: ScalarEval,
}

impl std::fmt::Debug for ScalarUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.signature())
    }
}

impl ScalarUdf {
    /// A deterministic function `name(args…) -> returns` computed by `eval` over one row's
    /// argument values (a `NULL` argument comes as [`Value::Null`]).
    pub fn new(
        name: &str,
        args: &[DataType],
        returns: DataType,
        eval: impl Fn(&[Value]) -> Result<Value, EvalError> + Send + Sync + 'static,
    ) -> Self {
        // Functions are registered once, when the binary starts: their names live as long.
        let name: &'static str = Box::leak(name.to_ascii_uppercase().into_boxed_str());
        Self {
            name,
            identifier: name.to_ascii_lowercase(),
            args: args.to_vec(),
            returns,
            deterministic: true,
            eval: Arc::new(eval),
        }
    }

    /// What `CREATE FUNCTION f AS 'identifier'` names this function by (its name unless set).
    pub fn with_identifier(mut self, identifier: &str) -> Self {
        self.identifier = identifier.to_string();
        self
    }

    /// Marks the function as giving different results for the same arguments (the planner
    /// then never folds a call of constants).
    pub fn non_deterministic(mut self) -> Self {
        self.deterministic = false;
        self
    }

    /// The function's name (upper case).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `NAME(TYPE, …) -> TYPE`.
    pub fn signature(&self) -> String {
        format!(
            "{}({}) -> {}",
            self.name,
            self.args
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.returns
        )
    }

    /// This function applied to arguments of `types`, under the name `called`.
    pub fn bind(&self, called: &str, types: &[DataType]) -> Result<ScalarFunction, FunctionError> {
        let fits = |given: &DataType, declared: &DataType| {
            given == declared
                || *given == DataType::Null
                || (given.is_integer() && declared.is_integer())
        };
        if types.len() != self.args.len() || !types.iter().zip(&self.args).all(|(g, d)| fits(g, d))
        {
            return Err(FunctionError::Arguments {
                name: called.to_string(),
                got: types
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                expected: self.signature(),
            });
        }
        Ok(ScalarFunction {
            name: self.name,
            return_type: self.returns.clone(),
            deterministic: self.deterministic,
            eval: self.eval.clone(),
        })
    }
}

fn registry() -> &'static RwLock<BTreeMap<String, Arc<ScalarUdf>>> {
    static REGISTRY: OnceLock<RwLock<BTreeMap<String, Arc<ScalarUdf>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers `f` in this process (what `main_with` does with a registry's functions). A
/// function of the same name is replaced.
pub fn register(f: ScalarUdf) {
    let mut r = registry().write().unwrap_or_else(|p| p.into_inner());
    r.insert(f.name.to_string(), Arc::new(f));
}

/// The registered function called `name` (any case).
pub fn by_name(name: &str) -> Option<Arc<ScalarUdf>> {
    let r = registry().read().unwrap_or_else(|p| p.into_inner());
    r.get(&name.to_ascii_uppercase()).cloned()
}

/// The registered function whose identifier is `identifier`.
pub fn by_identifier(identifier: &str) -> Option<Arc<ScalarUdf>> {
    let r = registry().read().unwrap_or_else(|p| p.into_inner());
    r.values().find(|f| f.identifier == identifier).cloned()
}

/// The registered functions' signatures, sorted by name.
pub fn signatures() -> Vec<String> {
    let r = registry().read().unwrap_or_else(|p| p.into_inner());
    r.values().map(|f| f.signature()).collect()
}

/// The registered functions' identifiers (for messages).
pub fn identifiers() -> Vec<String> {
    let r = registry().read().unwrap_or_else(|p| p.into_inner());
    r.values().map(|f| f.identifier.clone()).collect()
}

thread_local! {
    /// The `CREATE FUNCTION` names of the catalog a binder on this thread binds against.
    static SESSION: std::cell::RefCell<BTreeMap<String, Arc<ScalarUdf>>> =
        const { std::cell::RefCell::new(BTreeMap::new()) };
}

/// While alive, the functions a session's `CREATE FUNCTION`s named resolve on this thread
/// (a binder holds one while it binds; nested ones restore the outer names when dropped).
pub struct SessionFunctions {
    outer: BTreeMap<String, Arc<ScalarUdf>>,
}

impl SessionFunctions {
    /// Makes `functions` (by lower-case name) resolvable on this thread.
    pub fn enter(functions: &BTreeMap<String, Arc<ScalarUdf>>) -> Self {
        let outer = SESSION.with(|s| s.replace(functions.clone()));
        Self { outer }
    }
}

impl Drop for SessionFunctions {
    fn drop(&mut self) {
        let outer = std::mem::take(&mut self.outer);
        SESSION.with(|s| *s.borrow_mut() = outer);
    }
}

/// The function a session on this thread named `name` with `CREATE FUNCTION`.
pub(crate) fn in_session(name: &str) -> Option<Arc<ScalarUdf>> {
    SESSION.with(|s| s.borrow().get(&name.to_lowercase()).cloned())
}
