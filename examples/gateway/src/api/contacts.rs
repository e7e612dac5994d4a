//! Contacts, tags and lists, with CSV import (errors by line) and export.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::ids::{ContactId, ContactListId, TenantId};
use wagw_core::model::contact::{Contact, ContactFilter, ContactList};
use wagw_core::phone::{PhoneNumber, Region, normalize};
use wagw_core::store::Page;

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read, Write};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Envelope, PageEnvelope};

/// Routes with small bodies.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, upsert))
        .routes(routes!(export))
        .routes(routes!(read, patch, remove))
        .routes(routes!(add_tags))
        .routes(routes!(remove_tag))
        .routes(routes!(tags))
        .routes(routes!(lists, create_list))
        .routes(routes!(read_list, delete_list))
        .routes(routes!(list_members, add_members))
        .routes(routes!(remove_member))
        .routes(routes!(export_list))
}

/// Routes that take CSV uploads.
pub fn import_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import))
        .routes(routes!(import_into_list))
}

/// A contact as the API shows it: `phone` is the wa_id (digits), `phone_e164` the `+` form.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    #[schema(value_type = uuid::Uuid)]
    id: ContactId,
    /// The wa_id (digits).
    #[schema(value_type = String)]
    phone: PhoneNumber,
    /// E.164 with `+`.
    phone_e164: String,
    name: Option<String>,
    /// Custom fields.
    fields: BTreeMap<String, String>,
    tags: BTreeSet<String>,
    /// Ids of the lists it is in.
    #[schema(value_type = Vec<uuid::Uuid>)]
    lists: BTreeSet<ContactListId>,
    opted_out: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The view of `c`.
pub fn contact_view(c: &Contact) -> ContactView {
    ContactView {
        id: c.id,
        phone: c.phone.clone(),
        phone_e164: c.phone.e164(),
        name: c.name.clone(),
        fields: c.fields.clone(),
        tags: c.tags.clone(),
        lists: c.lists.clone(),
        opted_out: c.opted_out,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// A contact list as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ContactList)]
#[allow(dead_code)] // Describes wagw-core's `ContactList`, which the handlers answer as is.
struct ContactListSchema {
    id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    name: String,
    description: Option<String>,
    created_at: DateTime<Utc>,
}

/// A contact to add or update (by phone).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewContact {
    /// Any format of the tenant's region (`08123456789`).
    phone: String,
    name: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeSet<String>,
    /// Ids of lists to add it to.
    #[serde(default)]
    lists: BTreeSet<uuid::Uuid>,
    #[serde(default)]
    opted_out: bool,
}

/// One contact, or `{"contacts": [...]}` (1 to 1000).
#[derive(Debug, Deserialize, ToSchema)]
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

/// What an upsert stored.
#[derive(Debug, Serialize, ToSchema)]
struct Upserted {
    inserted: u64,
    updated: u64,
    contacts: Vec<ContactView>,
}

#[utoipa::path(post, path = "/contacts", tag = "contacts", summary = "Add or update contacts (by phone)",
    request_body = OneOrMany,
    responses(
        (status = 200, description = "Stored", body = Envelope<Upserted>),
        (status = 404, description = "No such list for this tenant", body = crate::openapi::ErrorBody),
    ))]
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
        ok(Upserted {
            inserted: counts.inserted,
            updated: counts.updated,
            contacts: stored,
        }),
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
            "opted_out" => {
                filter.include_opted_out = value.parse().map_err(|_| {
                    ApiError::bad_request(format!("opted_out must be true or false, not {value:?}"))
                })?;
            }
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

/// Filters of the contact listing and export (also `field.<name>=<value>` for custom
/// fields).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Describes the query; `filter_from` reads it (with `field.*`) itself.
struct ContactFilters {
    /// Only members of this list.
    list: Option<uuid::Uuid>,
    /// Only contacts with all these tags (comma-separated).
    tag: Option<String>,
    /// Name, phone or field values containing this.
    q: Option<String>,
    /// `false` leaves opted-out contacts out.
    opted_out: Option<bool>,
    /// Items per page (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
}

#[utoipa::path(get, path = "/contacts", tag = "contacts", summary = "List contacts",
    params(ContactFilters),
    responses((status = 200, description = "A page of contacts", body = PageEnvelope<ContactView>)))]
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

#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts", summary = "Read a contact",
    params(("id" = uuid::Uuid, Path, description = "Contact id")),
    responses((status = 200, description = "The contact", body = Envelope<ContactView>)))]
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

/// Changes to a contact (absent fields stay; `fields` and `tags` replace).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ContactPatch {
    name: Option<String>,
    fields: Option<BTreeMap<String, String>>,
    tags: Option<BTreeSet<String>>,
    opted_out: Option<bool>,
}

#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts", summary = "Change a contact",
    params(("id" = uuid::Uuid, Path, description = "Contact id")),
    request_body = ContactPatch,
    responses((status = 200, description = "The changed contact", body = Envelope<ContactView>)))]
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

#[utoipa::path(delete, path = "/contacts/{id}", tag = "contacts", summary = "Delete a contact",
    params(("id" = uuid::Uuid, Path, description = "Contact id")),
    responses((status = 204, description = "Deleted")))]
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

/// Tags to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Tags {
    tags: BTreeSet<String>,
}

#[utoipa::path(post, path = "/contacts/{id}/tags", tag = "contacts", summary = "Tag a contact",
    params(("id" = uuid::Uuid, Path, description = "Contact id")),
    request_body = Tags,
    responses((status = 200, description = "The tagged contact", body = Envelope<ContactView>)))]
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

#[utoipa::path(delete, path = "/contacts/{id}/tags/{tag}", tag = "contacts", summary = "Untag a contact",
    params(
        ("id" = uuid::Uuid, Path, description = "Contact id"),
        ("tag" = String, Path, description = "The tag"),
    ),
    responses((status = 200, description = "The contact", body = Envelope<ContactView>)))]
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

/// A tag and how many contacts carry it.
#[derive(Debug, Serialize, ToSchema)]
struct TagCount {
    tag: String,
    contacts: u64,
}

/// Every tag in use, with how many contacts carry it.
#[utoipa::path(get, path = "/tags", tag = "contacts", summary = "Tags in use",
    responses((status = 200, description = "Every tag with its count", body = Envelope<Vec<TagCount>>)))]
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
        .map(|(tag, contacts)| TagCount { tag, contacts })
        .collect();
    Ok(ok(items))
}

/// `?strict=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

/// A refused CSV row.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes the rows' errors, which the parser builds as JSON.
struct ImportRowError {
    /// The line in the file (1 is the header).
    line: u64,
    /// The number as written.
    input: Option<String>,
    /// `INVALID_NUMBER`, when the number is the problem.
    code: Option<String>,
    error: String,
}

/// What an import stored and refused.
#[derive(Debug, Serialize, ToSchema)]
struct ImportReport {
    inserted: u64,
    updated: u64,
    rejected: usize,
    #[schema(value_type = Vec<ImportRowError>)]
    errors: Vec<Value>,
}

async fn import_csv(
    state: &AppState,
    tenant: TenantId,
    list: Option<ContactListId>,
    strict: bool,
    body: &[u8],
) -> ApiResult<ImportReport> {
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
    Ok(ImportReport {
        inserted,
        updated,
        rejected: errors.len(),
        errors,
    })
}

#[utoipa::path(post, path = "/contacts/import", tag = "contacts", summary = "Import contacts from CSV",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "`phone,name,tags,<fields…>` with a header row (up to 50 MiB)"),
    responses((status = 200, description = "Stored rows and refused rows by line", body = Envelope<ImportReport>)))]

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

#[utoipa::path(post, path = "/lists/{id}/import", tag = "contacts", summary = "Import contacts from CSV into a list",
    params(("id" = uuid::Uuid, Path, description = "List id"), ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "`phone,name,tags,<fields…>` with a header row (up to 50 MiB)"),
    responses((status = 200, description = "Stored rows and refused rows by line", body = Envelope<ImportReport>)))]
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

#[utoipa::path(get, path = "/contacts/export.csv", tag = "contacts", summary = "Contacts as CSV",
    params(ContactFilters),
    responses((status = 200, description = "`phone,name,tags,<fields…>`; `phone` in E.164", body = String, content_type = "text/csv")))]
async fn export(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (filter, page_query) = filter_from(&params)?;
    // The export takes every page, but a malformed `limit` is refused as in the listing.
    page_query.page()?;
    write_csv(&state, auth.tenant(), &filter).await
}

#[utoipa::path(get, path = "/lists/{id}/export.csv", tag = "contacts", summary = "A list's contacts as CSV",
    params(("id" = uuid::Uuid, Path, description = "List id")),
    responses((status = 200, description = "`phone,name,tags,<fields…>`; `phone` in E.164", body = String, content_type = "text/csv")))]
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

#[utoipa::path(get, path = "/lists", tag = "contacts", summary = "List contact lists",
    params(PageQuery),
    responses((status = 200, description = "A page of lists", body = PageEnvelope<ContactListSchema>)))]
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

/// A new contact list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewList {
    name: String,
    description: Option<String>,
}

#[utoipa::path(post, path = "/lists", tag = "contacts", summary = "Create a contact list",
    request_body = NewList,
    responses(
        (status = 201, description = "Created", body = Envelope<ContactListSchema>),
        (status = 409, description = "A list of that name exists", body = crate::openapi::ErrorBody),
    ))]
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

#[utoipa::path(get, path = "/lists/{id}", tag = "contacts", summary = "Read a contact list",
    params(("id" = uuid::Uuid, Path, description = "List id")),
    responses((status = 200, description = "The list", body = Envelope<ContactListSchema>)))]
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

#[utoipa::path(delete, path = "/lists/{id}", tag = "contacts", summary = "Delete a contact list (not its contacts)",
    params(("id" = uuid::Uuid, Path, description = "List id")),
    responses((status = 204, description = "Deleted")))]
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

#[utoipa::path(get, path = "/lists/{id}/contacts", tag = "contacts", summary = "A list's contacts",
    params(("id" = uuid::Uuid, Path, description = "List id"), PageQuery),
    responses((status = 200, description = "A page of contacts", body = PageEnvelope<ContactView>)))]
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

/// Contacts to add to a list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Members {
    contact_ids: Vec<uuid::Uuid>,
}

/// How many contacts joined.
#[derive(Debug, Serialize, ToSchema)]
struct Added {
    added: u64,
}

#[utoipa::path(post, path = "/lists/{id}/contacts", tag = "contacts", summary = "Add contacts to a list",
    params(("id" = uuid::Uuid, Path, description = "List id")),
    request_body = Members,
    responses((status = 200, description = "Added", body = Envelope<Added>)))]
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
    Ok(touched(list.id, ok(Added { added })))
}

#[utoipa::path(delete, path = "/lists/{id}/contacts/{contact}", tag = "contacts", summary = "Remove a contact from a list",
    params(
        ("id" = uuid::Uuid, Path, description = "List id"),
        ("contact" = uuid::Uuid, Path, description = "Contact id"),
    ),
    responses((status = 204, description = "Removed")))]
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
