//! `WITH`: common table expressions, bound as views of the one query.

use sqlparser::ast;

use crate::sql::bind::expr::Scope;
use crate::sql::bind::Binder;
use crate::sql::catalog::ViewDef;
use crate::sql::plan::Plan;
use crate::sql::SqlError;

impl Binder<'_> {
    /// `WITH a AS (…), b AS (…) query`: each common table expression is a view of the query
    /// alone (shadowing a table of its name), visible to the ones after it.
    pub(super) fn bind_with(
        &self,
        with: &ast::With,
        q: &ast::Query,
    ) -> Result<(Plan, Scope), SqlError> {
        if with.recursive {
            return Err(SqlError::NotSupported("WITH RECURSIVE".into()));
        }
        let mut catalog = self.catalog.clone();
        for cte in &with.cte_tables {
            let name = cte.alias.name.value.clone();
            catalog.replace_view(ViewDef {
                name: name.clone(),
                columns: cte
                    .alias
                    .columns
                    .iter()
                    .map(|c| c.name.value.clone())
                    .collect(),
                query: (*cte.query).clone(),
            });
            // Bound now, so an error names the expression it is in.
            Binder::new(&catalog)
                .bind_named(&name, None)
                .map_err(|e| SqlError::Validation(format!("in WITH {name}: {e}")))?;
        }
        let mut body = q.clone();
        body.with = None;
        Binder::new(&catalog).bind_query(&body)
    }
}
