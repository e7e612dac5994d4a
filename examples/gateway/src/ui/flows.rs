//! `/ui/flows`: chatbot flows: import a document (GVINUM's ChatFlow JSON or the envelope
//! form; pasted or uploaded), its validation issues, a graph of its nodes drawn as SVG on the
//! server, and activation on a number.

use std::collections::{BTreeMap, VecDeque};

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use wagw_core::flow::{Severity, activate, load_document, validate};
use wagw_core::ids::{ChannelId, FlowId};
use wagw_core::model::flow::{Flow, FlowDocument};
use wagw_core::model::tenant::Scope;
use wagw_core::store::Page;

use super::{
    Cursor, Form, Layout, Opt, Query, Session, UiError, UiResult, escape, go, label, link, phone,
    render, when,
};
use crate::api::touched;
use crate::app::{AppState, Path};
use crate::error::ApiError;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/flows", get(list).post(import))
        .route("/flows/{id}", get(detail))
        .route("/flows/{id}/activate", post(activate_on))
}

/// A flow in the list.
#[derive(Debug)]
pub struct FlowRow {
    id: String,
    name: String,
    active: bool,
    version: u32,
    triggers: String,
    nodes: usize,
    updated: String,
}

#[derive(askama::Template)]
#[template(path = "ui/flows.html")]
struct ListPage {
    l: Layout,
    rows: Vec<FlowRow>,
    next: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(cursor): Query<Cursor>,
) -> UiResult<Response> {
    let tz = session.tenant.timezone;
    let found = state
        .store
        .list_flows(session.tenant_id(), cursor.page())
        .await?;
    render(&ListPage {
        l: session.layout("Flows", "flows"),
        rows: found
            .items
            .iter()
            .map(|f| FlowRow {
                id: f.id.to_string(),
                name: f.name.clone(),
                active: f.active,
                version: f.version,
                triggers: f.triggers.join(", "),
                nodes: f.document.nodes.len(),
                updated: when(tz, f.updated_at),
            })
            .collect(),
        next: found
            .next
            .map(|after| link("/ui/flows", &[("after", &after)])),
    })
}

async fn import(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> UiResult<Response> {
    session.require(Scope::Write)?;
    let mut multipart = multipart.map_err(|r| UiError(ApiError::bad_request(r.body_text())))?;
    let bad = |e: axum::extract::multipart::MultipartError| {
        UiError(ApiError::bad_request(format!(
            "the form did not arrive whole: {e}"
        )))
    };
    let (mut name, mut pasted, mut uploaded, mut triggers) =
        (String::new(), String::new(), String::new(), String::new());
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let field_name = field.name().unwrap_or_default().to_owned();
        let value = field.text().await.map_err(bad)?;
        match field_name.as_str() {
            "name" => name = value,
            "document" => pasted = value,
            "file" => uploaded = value,
            "triggers" => triggers = value,
            _ => {}
        }
    }
    let json = if uploaded.trim().is_empty() {
        pasted
    } else {
        uploaded
    };
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name", "is required").into());
    }
    if json.trim().is_empty() {
        return Err(ApiError::invalid("document", "paste the JSON or choose a file").into());
    }
    let document = load_document(&json)?;
    let mut flow = Flow::new(session.tenant_id(), name.trim(), document);
    flow.triggers = triggers
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    state.store.create_flow(&flow).await?;
    Ok(touched(
        flow.id,
        go(&headers, &format!("/ui/flows/{}", flow.id)),
    ))
}

/// A validation issue as the page shows it.
#[derive(Debug)]
pub struct IssueRow {
    error: bool,
    pointer: String,
    message: String,
}

#[derive(askama::Template)]
#[template(path = "ui/flow.html")]
struct DetailPage {
    l: Layout,
    id: String,
    active: bool,
    version: u32,
    triggers: String,
    issues: Vec<IssueRow>,
    svg: String,
    channels: Vec<Opt>,
    active_on: Vec<String>,
}

async fn detail(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<uuid::Uuid>,
) -> UiResult<Response> {
    let flow = state
        .store
        .get_flow(session.tenant_id(), FlowId(id))
        .await?;
    let channels = state
        .store
        .list_channels(session.tenant_id(), Page::first(Page::MAX_LIMIT))
        .await?
        .items;
    render(&DetailPage {
        l: session.layout(format!("Flow {}", flow.name), "flows"),
        id: id.to_string(),
        active: flow.active,
        version: flow.version,
        triggers: flow.triggers.join(", "),
        issues: validate(&flow.document)
            .into_iter()
            .map(|i| IssueRow {
                error: i.severity == Severity::Error,
                pointer: i.pointer,
                message: i.message,
            })
            .collect(),
        svg: graph_svg(&flow.document),
        active_on: channels
            .iter()
            .filter(|c| c.active_flow == Some(flow.id))
            .map(|c| format!("{} ({})", c.name, phone(&c.display_number)))
            .collect(),
        channels: channels
            .iter()
            .map(|c| {
                Opt::new(
                    c.id.to_string(),
                    format!("{} ({})", c.name, phone(&c.display_number)),
                    "",
                )
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize)]
struct ActivateForm {
    channel_id: String,
}

/// Activates the flow (only a document without errors) and makes it the number's flow.
async fn activate_on(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<uuid::Uuid>,
    Form(form): Form<ActivateForm>,
) -> UiResult<Response> {
    session.require(Scope::Write)?;
    let tenant = session.tenant_id();
    let mut flow = state.store.get_flow(tenant, FlowId(id)).await?;
    let channel_id = ChannelId(
        form.channel_id
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid("channel_id", "choose a number"))?,
    );
    let mut channel = state.store.get_channel(tenant, channel_id).await?;
    if !flow.active {
        activate(&mut flow)?;
        state.store.update_flow(&flow).await?;
    }
    channel.active_flow = Some(flow.id);
    channel.updated_at = chrono::Utc::now();
    state.store.update_channel(&channel).await?;
    Ok(touched(id, go(&headers, &format!("/ui/flows/{id}"))))
}

const BOX_W: i64 = 170;
const BOX_H: i64 = 46;
const COL_GAP: i64 = 90;
const ROW_GAP: i64 = 28;
const MARGIN: i64 = 20;

/// The document as an SVG graph: nodes in columns by their distance from the start (nodes
/// nothing reaches in a last column), edges as arrows labelled with their field.
pub fn graph_svg(doc: &FlowDocument) -> String {
    // Breadth-first from the start: each node's column is its distance.
    let mut column: BTreeMap<&str, usize> = BTreeMap::new();
    let mut queue = VecDeque::new();
    if doc.nodes.contains_key(&doc.start) {
        column.insert(doc.start.as_str(), 0);
        queue.push_back(doc.start.as_str());
    }
    while let Some(name) = queue.pop_front() {
        let depth = column.get(name).copied().unwrap_or(0);
        if let Some(node) = doc.nodes.get(name) {
            for (_, target) in node.edges() {
                if doc.nodes.contains_key(target) && !column.contains_key(target) {
                    column.insert(target, depth + 1);
                    queue.push_back(target);
                }
            }
        }
    }
    let unreachable = column.values().max().map_or(0, |d| d + 1);
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    let mut place: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    // The start first, then the others in name order (a stable drawing).
    let mut names: Vec<&str> = doc.nodes.keys().map(String::as_str).collect();
    names.sort_by_key(|n| (column.get(n).copied().unwrap_or(unreachable), *n));
    for name in &names {
        let col = column.get(name).copied().unwrap_or(unreachable);
        let row = rows.entry(col).or_default();
        let x = MARGIN + col as i64 * (BOX_W + COL_GAP);
        let y = MARGIN + *row as i64 * (BOX_H + ROW_GAP);
        *row += 1;
        place.insert(name, (x, y));
    }
    let width = place
        .values()
        .map(|(x, _)| x + BOX_W + MARGIN)
        .max()
        .unwrap_or(200);
    let height = place
        .values()
        .map(|(_, y)| y + BOX_H + MARGIN)
        .max()
        .unwrap_or(80);
    let mut svg = format!(
        "<svg class=\"flow\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-labelledby=\"flow-graph-title\">\
         <title id=\"flow-graph-title\">Flow graph: {} nodes, start {}</title>\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#5b6670\"/></marker></defs>",
        doc.nodes.len(),
        escape(&doc.start)
    );
    for (name, node) in &doc.nodes {
        let Some(&(x, y)) = place.get(name.as_str()) else {
            continue;
        };
        for (field, target) in node.edges() {
            let Some(&(tx, ty)) = place.get(target) else {
                continue;
            };
            let (x1, y1) = (x + BOX_W, y + BOX_H / 2);
            let (x2, y2) = if tx > x {
                (tx, ty + BOX_H / 2)
            } else {
                // Back or same-column edges enter from below, so they stay visible.
                (tx + BOX_W / 2, ty + BOX_H)
            };
            svg.push_str(&format!(
                "<path d=\"M {x1} {y1} C {} {y1}, {} {y2}, {x2} {y2}\" fill=\"none\" stroke=\"#5b6670\" marker-end=\"url(#arrow)\"/>\
                 <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#5b6670\">{}</text>",
                x1 + 40,
                x2 - 40,
                x1 + 6,
                y1 - 5,
                escape(&edge_label(&field))
            ));
        }
    }
    for (name, node) in &doc.nodes {
        let Some(&(x, y)) = place.get(name.as_str()) else {
            continue;
        };
        let kind = label(&serde_json::to_value(node).ok().map(|v| v["type"].clone()));
        let start = *name == doc.start;
        svg.push_str(&format!(
            "<g><rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"13\" font-weight=\"600\" fill=\"#1d2327\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#5b6670\">{}</text></g>",
            if start { "#dff3e8" } else { "#ffffff" },
            if start { "#0b6e4f" } else { "#9aa4ad" },
            if start { 2 } else { 1 },
            x + 8,
            y + 19,
            escape(&truncate(name, 22)),
            x + 8,
            y + 36,
            escape(&kind)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// An edge's words: an option's key in quotes (what the user types), else the field.
fn edge_label(field: &str) -> String {
    match field.strip_prefix("options/") {
        Some(key) => format!("“{}”", key.replace("~1", "/").replace("~0", "~")),
        None => field.to_owned(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_and_edge_is_drawn_and_names_are_escaped() {
        let doc = load_document(
            r#"{"root": {"type": "text", "content": "Pilih:", "options": {"1": "a<b", "2": "bantuan"}},
                "a<b": {"type": "text", "content": "A"},
                "bantuan": {"type": "text", "content": "B"},
                "lonely": {"type": "text", "content": "C"}}"#,
        )
        .expect("document");
        let svg = graph_svg(&doc);
        assert_eq!(svg.matches("<rect").count(), 4, "{svg}");
        assert_eq!(svg.matches("marker-end").count(), 2, "{svg}");
        assert!(svg.contains("a&lt;b"), "{svg}");
        assert!(!svg.contains("a<b"), "{svg}");
    }
}
