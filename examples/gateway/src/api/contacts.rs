//! Contacts, tags and lists, with CSV import (errors by line) and export.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use wagw_core::ids::{ContactId, ContactListId, TenantId};
use wagw_core::model::contact::{Contact, ContactFilter, ContactList};
use wagw_core::phone::{Region, normalize};
use wagw_core::store::Page;

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read, Write};
use crate::error::{ApiError, ApiResult};

/// Routes with small bodies.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(list).post(upsert))
        .route("/contacts/export.csv", get(export))
        .route("/contacts/{id}", get(read).patch(patch).delete(remove))
        .route("/contacts/{id}/tags", post(add_tags))
        .route("/contacts/{id}/tags/{tag}", delete(remove_tag))
        .route("/tags", get(tags))
        .route("/lists", get(lists).post(create_list))
        .route("/lists/{id}", get(read_list).delete(delete_list))
        .route("/lists/{id}/contacts", get(list_members).post(add_members))
        .route("/lists/{id}/contacts/{contact}", delete(remove_member))
        .route("/lists/{id}/export.csv", get(export_list))
}

/// Routes that take CSV uploads.
pub fn import_routes() -> Router<AppState> {
    Router::new()
        .route("/contacts/import", post(import))
        .route("/lists/{id}/import", post(import_into_list))
}

/// A contact as the API shows it: `phone` is the wa_id (digits), `phone_e164` the `+` form.
pub fn contact_view(c: &Contact) -> Value {
    json!({
        "id": c.id, "phone": c.phone, "phone_e164": c.phone.e164(), "name": c.name,
        "fields": c.fields, "tags": c.tags, "lists": c.lists, "opted_out": c.opted_out,
        "created_at": c.created_at, "updated_at": c.updated_at,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewContact {
    phone: String,
    name: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeSet<String>,
    #[serde(default)]
    lists: BTreeSet<uuid::Uuid>,
    #[serde(default)]
    opted_out: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many { contacts: Vec<NewContact> },
    One(NewContact),
}

async fn check_lists(
    state: &AppState,
    tenant: TenantId,
    lists: &BTreeSet<uuid::Uuid>,
) -> ApiResult<BTreeSet<ContactListId>> {
    let mut ids = BTreeSet::new();
    for id in lists {
        // Another tenant's list is "not found", exactly like one that never existed.
        state.store.get_list(tenant, ContactListId(*id)).await?;
        ids.insert(ContactListId(*id));
    }
    Ok(ids)
}

async fn upsert(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Json(body): Json<OneOrMany>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let items = match body {
        OneOrMany::Many { contacts } => contacts,
        OneOrMany::One(c) => vec![c],
    };
    if items.is_empty() || items.len() > 1_000 {
        return Err(ApiError::invalid(
            "contacts",
            "must hold 1 to 1000 contacts",
        ));
    }
    let mut contacts = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let phone = normalize(&item.phone, tenant.default_region).map_err(|e| {
            ApiError::from(e).with_details(json!({ "index": i, "input": item.phone }))
        })?;
        let mut c = Contact::new(tenant.id, phone, item.name);
        c.fields = item.fields;
        c.tags = item.tags;
        c.lists = check_lists(&state, tenant.id, &item.lists).await?;
        c.opted_out = item.opted_out;
        contacts.push(c);
    }
    let counts = state.store.upsert_contacts(tenant.id, &contacts).await?;
    let mut stored = Vec::with_capacity(contacts.len());
    for c in &contacts {
        stored.push(contact_view(
            &state
                .store
                .find_contact_by_phone(tenant.id, &c.phone)
                .await?,
        ));
    }
    Ok((
        StatusCode::OK,
        ok(json!({ "inserted": counts.inserted, "updated": counts.updated, "contacts": stored })),
    )
        .into_response())
}

/// Filters: `list`, `tag` (repeatable as `tag=a,b`), `field.<name>=<value>`, `q`.
fn filter_from(params: &HashMap<String, String>) -> ApiResult<(ContactFilter, PageQuery)> {
    let mut filter = ContactFilter {
        include_opted_out: true,
        ..ContactFilter::default()
    };
    let mut page = PageQuery::default();
    for (key, value) in params {
        match key.as_str() {
            "list" => {
                let id = value
                    .parse()
                    .map_err(|_| ApiError::invalid("list", "is not an id"))?;
                filter.lists.insert(ContactListId(id));
            }
            "tag" => filter.tags.extend(
                value
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            ),
            "q" => filter.text = Some(value.clone()).filter(|v| !v.is_empty()),
            "opted_out" => filter.include_opted_out = value != "false",
            "limit" => {
                page.limit = Some(
                    value
                        .parse()
                        .map_err(|_| ApiError::invalid("limit", "is not a number"))?,
                );
            }
            "after" => page.after = Some(value.clone()),
            other => match other.strip_prefix("field.") {
                Some(name) if !name.is_empty() => {
                    filter.fields.insert(name.to_owned(), value.clone());
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "unknown query parameter {other:?}"
                    )));
                }
            },
        }
    }
    Ok((filter, page))
}

async fn list(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (filter, page_query) = filter_from(&params)?;
    let found = state
        .store
        .list_contacts(auth.tenant(), &filter, page_query.page()?)
        .await?;
    Ok(page(found, |c| contact_view(&c)))
}

async fn read(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(ok(contact_view(
        &state
            .store
            .get_contact(auth.tenant(), ContactId(id))
            .await?,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactPatch {
    name: Option<String>,
    fields: Option<BTreeMap<String, String>>,
    tags: Option<BTreeSet<String>>,
    opted_out: Option<bool>,
}

async fn patch(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<ContactPatch>,
) -> ApiResult<Response> {
    let mut c = state
        .store
        .get_contact(auth.tenant(), ContactId(id))
        .await?;
    if let Some(name) = body.name {
        c.name = Some(name).filter(|n| !n.trim().is_empty());
    }
    if let Some(fields) = body.fields {
        c.fields = fields;
    }
    if let Some(tags) = body.tags {
        c.tags = tags;
    }
    if let Some(opted_out) = body.opted_out {
        c.opted_out = opted_out;
    }
    c.updated_at = Utc::now();
    state.store.update_contact(&c).await?;
    Ok(touched(c.id, ok(contact_view(&c))))
}

async fn remove(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state
        .store
        .delete_contact(auth.tenant(), ContactId(id))
        .await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tags {
    tags: BTreeSet<String>,
}

async fn add_tags(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<Tags>,
) -> ApiResult<Response> {
    if body.tags.is_empty() || body.tags.iter().any(|t| t.trim().is_empty()) {
        return Err(ApiError::invalid("tags", "must hold non-empty tags"));
    }
    let mut c = state
        .store
        .get_contact(auth.tenant(), ContactId(id))
        .await?;
    c.tags.extend(body.tags);
    c.updated_at = Utc::now();
    state.store.update_contact(&c).await?;
    Ok(touched(c.id, ok(contact_view(&c))))
}

async fn remove_tag(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path((id, tag)): Path<(uuid::Uuid, String)>,
) -> ApiResult<Response> {
    let mut c = state
        .store
        .get_contact(auth.tenant(), ContactId(id))
        .await?;
    if !c.tags.remove(&tag) {
        return Err(ApiError::not_found());
    }
    c.updated_at = Utc::now();
    state.store.update_contact(&c).await?;
    Ok(touched(c.id, ok(contact_view(&c))))
}

/// Every tag in use, with how many contacts carry it.
async fn tags(State(state): State<AppState>, auth: Auth<Read>) -> ApiResult<Json<Value>> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let filter = ContactFilter {
        include_opted_out: true,
        ..ContactFilter::default()
    };
    let mut page = Page::first(1_000);
    loop {
        let found = state
            .store
            .list_contacts(auth.tenant(), &filter, page)
            .await?;
        for c in &found.items {
            for t in &c.tags {
                *counts.entry(t.clone()).or_default() += 1;
            }
        }
        match found.next {
            Some(next) => page = Page::after(1_000, next),
            None => break,
        }
    }
    let items: Vec<_> = counts
        .into_iter()
        .map(|(tag, contacts)| json!({ "tag": tag, "contacts": contacts }))
        .collect();
    Ok(ok(items))
}

#[derive(Debug, Deserialize)]
struct ImportQuery {
    /// All or nothing: any bad row refuses the whole file.
    #[serde(default)]
    strict: bool,
}

/// The good rows of a CSV (with their line) and the bad ones reported by line.
struct ParsedCsv {
    rows: Vec<(u64, Contact)>,
    errors: Vec<Value>,
}

/// Parses a contacts CSV: a header with a `phone` (or `number`/`nomor`) column; `name` (or
/// `nama`), `tags` (separated by `;`), `email` and any other columns become fields. Errors
/// are reported by line (the header is line 1).
fn parse_csv(bytes: &[u8], tenant: TenantId, region: Region) -> ApiResult<ParsedCsv> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::invalid("line 1", e.to_string()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    let phone_col = headers
        .iter()
        .position(|h| matches!(h.as_str(), "phone" | "number" | "nomor" | "phone_number"))
        .ok_or_else(|| ApiError::invalid("line 1", "the header needs a phone column"))?;
    let mut good = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(json!({ "line": line, "error": e.to_string() }));
                continue;
            }
        };
        let raw = record.get(phone_col).unwrap_or_default();
        let phone = match normalize(raw, region) {
            Ok(p) => p,
            Err(e) => {
                errors.push(json!({ "line": line, "input": raw, "code": "INVALID_NUMBER", "error": e.to_string() }));
                continue;
            }
        };
        let mut contact = Contact::new(tenant, phone, None);
        for (col, value) in headers.iter().zip(record.iter()) {
            if value.is_empty() || col == &headers[phone_col] {
                continue;
            }
            match col.as_str() {
                "name" | "nama" => contact.name = Some(value.to_owned()),
                "tags" => contact.tags.extend(
                    value
                        .split(';')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned),
                ),
                other => {
                    contact.fields.insert(other.to_owned(), value.to_owned());
                }
            }
        }
        good.push((line, contact));
    }
    Ok(ParsedCsv { rows: good, errors })
}

async fn import_csv(
    state: &AppState,
    tenant: TenantId,
    list: Option<ContactListId>,
    strict: bool,
    body: &[u8],
) -> ApiResult<Value> {
    let tenant = state.store.get_tenant(tenant).await?;
    if let Some(list) = list {
        state.store.get_list(tenant.id, list).await?;
    }
    let ParsedCsv {
        rows: mut good,
        errors,
    } = parse_csv(body, tenant.id, tenant.default_region)?;
    if strict && !errors.is_empty() {
        return Err(
            ApiError::invalid("csv", "some rows are invalid; nothing was imported")
                .with_details(json!({ "errors": errors })),
        );
    }
    if let Some(list) = list {
        for (_, c) in &mut good {
            c.lists.insert(list);
        }
    }
    let mut inserted = 0;
    let mut updated = 0;
    for chunk in good.chunks(1_000) {
        let contacts: Vec<Contact> = chunk.iter().map(|(_, c)| c.clone()).collect();
        let counts = state.store.upsert_contacts(tenant.id, &contacts).await?;
        inserted += counts.inserted;
        updated += counts.updated;
    }
    Ok(json!({
        "inserted": inserted, "updated": updated, "rejected": errors.len(), "errors": errors,
    }))
}

async fn import(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    Ok(ok(
        import_csv(&state, auth.tenant(), None, q.strict, &body).await?
    ))
}

async fn import_into_list(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let report = import_csv(
        &state,
        auth.tenant(),
        Some(ContactListId(id)),
        q.strict,
        &body,
    )
    .await?;
    Ok(touched(id, ok(report)))
}

/// Writes contacts as CSV: `phone,name,tags,<fields…>`. `phone` is E.164 with `+`, so the
/// file can be imported again anywhere.
async fn write_csv(
    state: &AppState,
    tenant: TenantId,
    filter: &ContactFilter,
) -> ApiResult<Response> {
    let mut contacts = Vec::new();
    let mut page = Page::first(1_000);
    loop {
        let found = state.store.list_contacts(tenant, filter, page).await?;
        contacts.extend(found.items);
        match found.next {
            Some(next) => page = Page::after(1_000, next),
            None => break,
        }
    }
    let fields: BTreeSet<String> = contacts
        .iter()
        .flat_map(|c| c.fields.keys().cloned())
        .collect();
    let io = |e: csv::Error| ApiError::from(wagw_core::Error::backend("writing CSV", false, e));
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["phone".to_owned(), "name".to_owned(), "tags".to_owned()];
    header.extend(fields.iter().cloned());
    out.write_record(&header).map_err(io)?;
    for c in &contacts {
        let mut row = vec![
            c.phone.e164(),
            c.name.clone().unwrap_or_default(),
            c.tags.iter().cloned().collect::<Vec<_>>().join(";"),
        ];
        row.extend(
            fields
                .iter()
                .map(|f| c.fields.get(f).cloned().unwrap_or_default()),
        );
        out.write_record(&row).map_err(io)?;
    }
    let bytes = out.into_inner().map_err(|e| {
        ApiError::from(wagw_core::Error::backend(
            "writing CSV",
            false,
            e.into_error(),
        ))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"contacts.csv\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

async fn export(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (filter, _) = filter_from(&params)?;
    write_csv(&state, auth.tenant(), &filter).await
}

async fn export_list(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let list = state
        .store
        .get_list(auth.tenant(), ContactListId(id))
        .await?;
    let filter = ContactFilter {
        lists: BTreeSet::from([list.id]),
        include_opted_out: true,
        ..ContactFilter::default()
    };
    write_csv(&state, auth.tenant(), &filter).await
}

async fn lists(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(page(
        state.store.list_lists(auth.tenant(), q.page()?).await?,
        |l| l,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewList {
    name: String,
    description: Option<String>,
}

async fn create_list(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Json(body): Json<NewList>,
) -> ApiResult<Response> {
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let list = ContactList {
        id: ContactListId::new(),
        tenant_id: auth.tenant(),
        name: body.name,
        description: body.description,
        created_at: Utc::now(),
    };
    state.store.create_list(&list).await?;
    Ok(touched(list.id, (StatusCode::CREATED, ok(&list))))
}

async fn read_list(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(ok(state
        .store
        .get_list(auth.tenant(), ContactListId(id))
        .await?))
}

async fn delete_list(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state
        .store
        .delete_list(auth.tenant(), ContactListId(id))
        .await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

async fn list_members(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let list = state
        .store
        .get_list(auth.tenant(), ContactListId(id))
        .await?;
    let filter = ContactFilter {
        lists: BTreeSet::from([list.id]),
        include_opted_out: true,
        ..ContactFilter::default()
    };
    let found = state
        .store
        .list_contacts(auth.tenant(), &filter, q.page()?)
        .await?;
    Ok(page(found, |c| contact_view(&c)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Members {
    contact_ids: Vec<uuid::Uuid>,
}

async fn add_members(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<Members>,
) -> ApiResult<Response> {
    let list = state
        .store
        .get_list(auth.tenant(), ContactListId(id))
        .await?;
    if body.contact_ids.is_empty() {
        return Err(ApiError::invalid("contact_ids", "must not be empty"));
    }
    let mut ids = Vec::with_capacity(body.contact_ids.len());
    for c in &body.contact_ids {
        // Another tenant's contact: not found, and nothing is added.
        state
            .store
            .get_contact(auth.tenant(), ContactId(*c))
            .await?;
        ids.push(ContactId(*c));
    }
    let added = state
        .store
        .add_to_list(auth.tenant(), list.id, &ids)
        .await?;
    Ok(touched(list.id, ok(json!({ "added": added }))))
}

async fn remove_member(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path((id, contact)): Path<(uuid::Uuid, uuid::Uuid)>,
) -> ApiResult<Response> {
    let list = state
        .store
        .get_list(auth.tenant(), ContactListId(id))
        .await?;
    let removed = state
        .store
        .remove_from_list(auth.tenant(), list.id, &[ContactId(contact)])
        .await?;
    if removed == 0 {
        return Err(ApiError::not_found());
    }
    Ok(touched(list.id, StatusCode::NO_CONTENT))
}
