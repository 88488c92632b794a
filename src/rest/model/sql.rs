//! The JSON shapes of the SQL Gateway routes, as Flink's SQL Gateway REST API (v2) writes
//! them, so a Flink user's scripts read them unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /info`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct InfoResponse {
    /// The product.
    #[serde(rename = "productName")]
    pub product_name: String,
    /// Its version.
    pub version: String,
}

/// The body of `POST /sessions` (all optional).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq, utoipa::ToSchema)]
pub struct OpenSessionRequest {
    /// A name for the session.
    #[serde(rename = "sessionName", default)]
    pub session_name: Option<String>,
    /// Options set in the session (`SET` keys).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// The answer to `POST /sessions`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct OpenSessionResponse {
    /// The session's handle.
    #[serde(rename = "sessionHandle")]
    pub session_handle: String,
}

/// `GET /sessions/{s}`: the session's options.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct SessionConfigResponse {
    /// The options set.
    pub properties: BTreeMap<String, String>,
}

/// The answer to `DELETE /sessions/{s}` and `DELETE …/operations/{o}/close`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct StatusResponse {
    /// `CLOSED` or `FINISHED`.
    pub status: String,
}

/// The body of `POST /sessions/{s}/statements`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ExecuteStatementRequest {
    /// The statement.
    pub statement: String,
    /// Options for this statement only (ignored but accepted, as Flink's clients send it).
    #[serde(rename = "executionConfig", default)]
    pub execution_config: BTreeMap<String, String>,
    /// Accepted and ignored (Flink's `executionTimeout`).
    #[serde(rename = "executionTimeout", default)]
    pub execution_timeout: Option<u64>,
}

/// The answer to `POST /sessions/{s}/statements`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ExecuteStatementResponse {
    /// The operation's handle.
    #[serde(rename = "operationHandle")]
    pub operation_handle: String,
}

/// A column's logical type.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct LogicalType {
    /// The type's root (`VARCHAR`).
    #[serde(rename = "type")]
    pub type_root: String,
    /// Whether it may be null.
    pub nullable: bool,
    /// A `VARCHAR`'s length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    /// A `DECIMAL`'s or `TIMESTAMP`'s precision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<u32>,
    /// A `DECIMAL`'s scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
}

impl LogicalType {
    /// A nullable `VARCHAR` of the greatest length (a statement's answer).
    pub fn varchar() -> Self {
        Self {
            type_root: "VARCHAR".into(),
            nullable: true,
            length: Some(i32::MAX as u32),
            precision: None,
            scale: None,
        }
    }
}

/// A result column.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "logicalType")]
    pub logical_type: LogicalType,
    /// Its comment.
    pub comment: Option<String>,
}

/// A result row.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct RowData {
    /// `INSERT` (`UPDATE_BEFORE`, `UPDATE_AFTER`, `DELETE` for changelogs).
    pub kind: String,
    /// The row's fields: JSON values of the columns' types (text for a statement's answer).
    #[schema(value_type = Vec<Object>)]
    pub fields: Vec<serde_json::Value>,
}

/// The rows of one fetch.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ResultSet {
    /// The columns.
    pub columns: Vec<ColumnInfo>,
    /// `JSON`.
    #[serde(rename = "rowFormat")]
    pub row_format: String,
    /// The rows.
    pub data: Vec<RowData>,
}

/// The answer to `GET /sessions/{s}/operations/{o}/result/{token}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct FetchResultsResponse {
    /// The rows.
    pub results: ResultSet,
    /// `PAYLOAD` (rows follow at `nextResultUri`), `EOS` (the end) or `NOT_READY`.
    #[serde(rename = "resultType")]
    pub result_type: String,
    /// Whether the rows are a query's.
    #[serde(rename = "isQueryResult")]
    pub is_query_result: bool,
    /// The job the statement submitted.
    #[serde(rename = "jobID", skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `SUCCESS` or `SUCCESS_WITH_CONTENT`.
    #[serde(rename = "resultKind")]
    pub result_kind: String,
    /// Where the next rows are, until the end.
    #[serde(rename = "nextResultUri", skip_serializing_if = "Option::is_none")]
    pub next_result_uri: Option<String>,
}
