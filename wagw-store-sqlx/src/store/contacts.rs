use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::Utc;
use sqlx::QueryBuilder;
use uuid::Uuid;
use wagw_core::ids::{ContactId, ContactListId, TenantId};
use wagw_core::model::contact::{Contact, ContactFilter, ContactList};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{ContactStore, Page, Paged, UpsertCounts};
use wagw_core::{Error, Result};

use super::{cursor, overfetch};
use crate::SqlStore;
use crate::db::{SqlRow, Ts, db_err, ensure_row, in_tx, on_read, on_write, to_json, unique_err};

/// Rows per multi-row statement: 9 columns × 500 stays far below SQLite's variable limit.
const CHUNK: usize = 500;

const CONTACT_COLUMNS: &str =
    "id, tenant_id, phone, name, fields, tags, opted_out, created_at, updated_at";

fn contact_from_row(r: &impl SqlRow) -> Result<Contact> {
    Ok(Contact {
        id: ContactId(r.uuid("id")?),
        tenant_id: TenantId(r.uuid("tenant_id")?),
        phone: r.text("phone")?.parse::<PhoneNumber>()?,
        name: r.opt_text("name")?,
        fields: r.json::<BTreeMap<String, String>>("fields")?,
        tags: r.json::<BTreeSet<String>>("tags")?,
        lists: BTreeSet::new(),
        opted_out: r.flag("opted_out")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

/// Merges `incoming` into `stored` the way `upsert_contacts` documents it.
fn merge(stored: &mut Contact, incoming: &Contact) {
    if incoming.name.is_some() {
        stored.name.clone_from(&incoming.name);
    }
    stored.fields.extend(incoming.fields.clone());
    stored.tags.extend(incoming.tags.iter().cloned());
    stored.lists.extend(incoming.lists.iter().copied());
    stored.opted_out |= incoming.opted_out;
}

impl SqlStore {
    /// Fills in the list memberships of contacts.
    async fn attach_lists(&self, tenant: TenantId, contacts: &mut [Contact]) -> Result<()> {
        if contacts.is_empty() {
            return Ok(());
        }
        let mut lists: HashMap<Uuid, BTreeSet<ContactListId>> = HashMap::new();
        for chunk in contacts.chunks(CHUNK) {
            on_read!(&self.db, |pool, _pg| {
                let mut qb = QueryBuilder::new(
                    "SELECT contact_id, list_id FROM contact_list_members WHERE tenant_id = ",
                );
                qb.push_bind(tenant.0).push(" AND contact_id IN (");
                let mut ids = qb.separated(", ");
                for c in chunk {
                    ids.push_bind(c.id.0);
                }
                qb.push(")");
                for row in qb.build().fetch_all(pool).await.map_err(db_err)? {
                    lists
                        .entry(row.uuid("contact_id")?)
                        .or_default()
                        .insert(ContactListId(row.uuid("list_id")?));
                }
            });
        }
        for c in contacts.iter_mut() {
            c.lists = lists.remove(&c.id.0).unwrap_or_default();
        }
        Ok(())
    }

    async fn contact_where(
        &self,
        tenant: TenantId,
        condition: &str,
        value: &str,
        id: Option<ContactId>,
    ) -> Result<Contact> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE tenant_id = $1 AND {condition} = $2"
        );
        let row = on_read!(&self.db, |pool, _pg| {
            let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
            let q = match id {
                Some(id) => q.bind(id.0),
                None => q.bind(value),
            };
            match q.fetch_optional(pool).await.map_err(db_err)? {
                Some(r) => Some(contact_from_row(&r)?),
                None => None,
            }
        });
        let mut contact = row.ok_or_else(|| Error::not_found("contact", value))?;
        self.attach_lists(tenant, std::slice::from_mut(&mut contact))
            .await?;
        Ok(contact)
    }
}

#[async_trait]
impl ContactStore for SqlStore {
    async fn upsert_contacts(
        &self,
        tenant: TenantId,
        contacts: &[Contact],
    ) -> Result<UpsertCounts> {
        if let Some(foreign) = contacts.iter().find(|c| c.tenant_id != tenant) {
            return Err(Error::invalid_input(
                "tenant_id",
                format!("contact {} belongs to another tenant", foreign.id),
            ));
        }
        let now = Utc::now();
        let mut counts = UpsertCounts::default();
        in_tx!(&self.db, |tx, pg| {
            for chunk in contacts.chunks(CHUNK) {
                // The stored contacts with these phones (locked on PostgreSQL).
                let mut qb = QueryBuilder::new(format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts WHERE tenant_id = "
                ));
                qb.push_bind(tenant.0).push(" AND phone IN (");
                let mut phones = qb.separated(", ");
                for c in chunk {
                    phones.push_bind(c.phone.as_str().to_owned());
                }
                qb.push(")");
                if pg {
                    qb.push(" FOR UPDATE");
                }
                let mut stored: HashMap<String, Contact> = HashMap::new();
                for row in qb.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                    let c = contact_from_row(&row)?;
                    stored.insert(c.phone.as_str().to_owned(), c);
                }
                // Merge in input order; a phone repeated in the batch merges into the first.
                let mut fresh: Vec<Contact> = Vec::new();
                let mut fresh_at: HashMap<String, usize> = HashMap::new();
                let mut changed: BTreeMap<String, Contact> = BTreeMap::new();
                for c in chunk {
                    let phone = c.phone.as_str().to_owned();
                    if let Some(i) = fresh_at.get(&phone) {
                        merge(&mut fresh[*i], c);
                        fresh[*i].updated_at = now;
                        counts.updated += 1;
                    } else if let Some(s) = changed.get_mut(&phone).or(stored.get_mut(&phone)) {
                        let mut s = s.clone();
                        merge(&mut s, c);
                        s.updated_at = now;
                        changed.insert(phone, s);
                        counts.updated += 1;
                    } else {
                        fresh_at.insert(phone, fresh.len());
                        fresh.push(c.clone());
                        counts.inserted += 1;
                    }
                }
                if !fresh.is_empty() {
                    let mut qb =
                        QueryBuilder::new(format!("INSERT INTO contacts ({CONTACT_COLUMNS}) "));
                    let mut bad = None;
                    qb.push_values(&fresh, |mut b, c| {
                        let fields = to_json(&c.fields);
                        let tags = to_json(&c.tags);
                        let (fields, tags) = match (fields, tags) {
                            (Ok(f), Ok(t)) => (f, t),
                            (Err(e), _) | (_, Err(e)) => {
                                bad = Some(e);
                                return;
                            }
                        };
                        b.push_bind(c.id.0)
                            .push_bind(tenant.0)
                            .push_bind(c.phone.as_str().to_owned())
                            .push_bind(c.name.clone())
                            .push_bind(fields)
                            .push_bind(tags)
                            .push_bind(c.opted_out)
                            .push_bind(Ts(c.created_at))
                            .push_bind(Ts(c.updated_at));
                    });
                    if let Some(e) = bad {
                        return Err(e);
                    }
                    qb.build().execute(&mut *tx).await.map_err(|e| {
                        // A concurrent upsert inserted the same phone first: retry the call.
                        match unique_err("contact", "inserted concurrently".into())(e) {
                            Error::Conflict { reason, .. } => Error::Backend {
                                message: format!("contact {reason}; retry"),
                                transient: true,
                                source: None,
                            },
                            other => other,
                        }
                    })?;
                }
                for c in changed.values() {
                    sqlx::query(
                        "UPDATE contacts SET name = $3, fields = $4, tags = $5, opted_out = $6, \
                         updated_at = $7 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(c.id.0)
                    .bind(&c.name)
                    .bind(to_json(&c.fields)?)
                    .bind(to_json(&c.tags)?)
                    .bind(c.opted_out)
                    .bind(Ts(c.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                for c in fresh.iter().chain(changed.values()) {
                    for list in &c.lists {
                        sqlx::query(
                            "INSERT INTO contact_list_members (tenant_id, list_id, contact_id) \
                             SELECT $1, $2, $3 WHERE EXISTS \
                             (SELECT 1 FROM contact_lists WHERE tenant_id = $1 AND id = $2) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(tenant.0)
                        .bind(list.0)
                        .bind(c.id.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    }
                }
            }
        });
        Ok(counts)
    }

    async fn get_contact(&self, tenant: TenantId, id: ContactId) -> Result<Contact> {
        self.contact_where(tenant, "id", &id.to_string(), Some(id))
            .await
    }

    async fn find_contact_by_phone(
        &self,
        tenant: TenantId,
        phone: &PhoneNumber,
    ) -> Result<Contact> {
        self.contact_where(tenant, "phone", phone.as_str(), None)
            .await
    }

    async fn update_contact(&self, contact: &Contact) -> Result<()> {
        let tenant = contact.tenant_id;
        in_tx!(&self.db, |tx, _pg| {
            let n = sqlx::query(
                "UPDATE contacts SET phone = $3, name = $4, fields = $5, tags = $6, \
                 opted_out = $7, created_at = $8, updated_at = $9 \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.0)
            .bind(contact.id.0)
            .bind(contact.phone.as_str())
            .bind(&contact.name)
            .bind(to_json(&contact.fields)?)
            .bind(to_json(&contact.tags)?)
            .bind(contact.opted_out)
            .bind(Ts(contact.created_at))
            .bind(Ts(contact.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(unique_err(
                "contact",
                format!("{} already exists", contact.phone),
            ))?
            .rows_affected();
            if n == 0 {
                return Err(Error::not_found("contact", contact.id));
            }
            sqlx::query(
                "DELETE FROM contact_list_members WHERE tenant_id = $1 AND contact_id = $2",
            )
            .bind(tenant.0)
            .bind(contact.id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            for list in &contact.lists {
                sqlx::query(
                    "INSERT INTO contact_list_members (tenant_id, list_id, contact_id) \
                     SELECT $1, $2, $3 WHERE EXISTS \
                     (SELECT 1 FROM contact_lists WHERE tenant_id = $1 AND id = $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(tenant.0)
                .bind(list.0)
                .bind(contact.id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        });
        Ok(())
    }

    async fn delete_contact(&self, tenant: TenantId, id: ContactId) -> Result<()> {
        in_tx!(&self.db, |tx, _pg| {
            let n = sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if n == 0 {
                return Err(Error::not_found("contact", id));
            }
            sqlx::query(
                "DELETE FROM contact_list_members WHERE tenant_id = $1 AND contact_id = $2",
            )
            .bind(tenant.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        });
        Ok(())
    }

    async fn list_contacts(
        &self,
        tenant: TenantId,
        filter: &ContactFilter,
        page: Page,
    ) -> Result<Paged<Contact>> {
        let after = cursor(&page)?;
        let mut items = on_read!(&self.db, |pool, pg| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE tenant_id = "
            ));
            qb.push_bind(tenant.0);
            if let Some(after) = after {
                qb.push(" AND id > ").push_bind(after);
            }
            if !filter.include_opted_out {
                qb.push(" AND NOT opted_out");
            }
            if pg {
                // GIN-indexed containment.
                if !filter.tags.is_empty() {
                    qb.push(" AND tags @> ").push_bind(to_json(&filter.tags)?);
                }
                if !filter.fields.is_empty() {
                    qb.push(" AND fields @> ")
                        .push_bind(to_json(&filter.fields)?);
                }
            } else {
                for tag in &filter.tags {
                    qb.push(" AND EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = ")
                        .push_bind(tag.clone())
                        .push(")");
                }
                for (key, value) in &filter.fields {
                    qb.push(" AND EXISTS (SELECT 1 FROM json_each(c.fields) WHERE key = ")
                        .push_bind(key.clone())
                        .push(" AND value = ")
                        .push_bind(value.clone())
                        .push(")");
                }
            }
            if let Some(text) = &filter.text {
                // Folds only ASCII letters on both dialects, like `ContactFilter::matches`.
                let name = if pg {
                    "translate(COALESCE(name, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', \
                     'abcdefghijklmnopqrstuvwxyz')"
                } else {
                    "lower(COALESCE(name, ''))"
                };
                let find = if pg { "strpos" } else { "instr" };
                let needle = text.to_ascii_lowercase();
                qb.push(format!(" AND ({find}({name}, "))
                    .push_bind(needle.clone())
                    .push(format!(") > 0 OR {find}(phone, "))
                    .push_bind(needle)
                    .push(") > 0)");
            }
            if !filter.lists.is_empty() {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM contact_list_members m WHERE m.tenant_id = c.tenant_id \
                     AND m.contact_id = c.id AND m.list_id IN (",
                );
                let mut lists = qb.separated(", ");
                for list in &filter.lists {
                    lists.push_bind(list.0);
                }
                qb.push("))");
            }
            qb.push(" ORDER BY id LIMIT ").push_bind(overfetch(&page));
            qb.build()
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(contact_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        self.attach_lists(tenant, &mut items).await?;
        Ok(Paged::from_overfetch(items, page.effective_limit(), |c| {
            c.id.to_string()
        }))
    }

    async fn create_list(&self, list: &ContactList) -> Result<()> {
        let doc = to_json(list)?;
        on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "INSERT INTO contact_lists (tenant_id, id, name, doc) VALUES ($1, $2, $3, $4)",
            )
            .bind(list.tenant_id.0)
            .bind(list.id.0)
            .bind(&list.name)
            .bind(&doc)
            .execute(pool)
            .await
            .map_err(unique_err(
                "contact list",
                format!("{:?} exists", list.name),
            ))?;
        });
        Ok(())
    }

    async fn get_list(&self, tenant: TenantId, id: ContactListId) -> Result<ContactList> {
        self.get_doc("contact_lists", "contact list", tenant.0, id.0)
            .await
    }

    async fn list_lists(&self, tenant: TenantId, page: Page) -> Result<Paged<ContactList>> {
        self.list_docs("contact_lists", tenant.0, &page, |l: &ContactList| {
            l.id.to_string()
        })
        .await
    }

    async fn delete_list(&self, tenant: TenantId, id: ContactListId) -> Result<()> {
        in_tx!(&self.db, |tx, _pg| {
            let n = sqlx::query("DELETE FROM contact_lists WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if n == 0 {
                return Err(Error::not_found("contact list", id));
            }
            sqlx::query("DELETE FROM contact_list_members WHERE tenant_id = $1 AND list_id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        });
        Ok(())
    }

    async fn add_to_list(
        &self,
        tenant: TenantId,
        list: ContactListId,
        contacts: &[ContactId],
    ) -> Result<u64> {
        Ok(in_tx!(&self.db, |tx, _pg| {
            ensure_row!(tx, "contact_lists", "contact list", tenant, list);
            let mut added = 0;
            for id in contacts {
                // Only the tenant's own contacts; any other id fails the whole call.
                ensure_row!(tx, "contacts", "contact", tenant, *id);
                added += sqlx::query(
                    "INSERT INTO contact_list_members (tenant_id, list_id, contact_id) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(tenant.0)
                .bind(list.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            }
            added
        }))
    }

    async fn remove_from_list(
        &self,
        tenant: TenantId,
        list: ContactListId,
        contacts: &[ContactId],
    ) -> Result<u64> {
        Ok(in_tx!(&self.db, |tx, _pg| {
            ensure_row!(tx, "contact_lists", "contact list", tenant, list);
            let mut removed = 0;
            for id in contacts {
                removed += sqlx::query(
                    "DELETE FROM contact_list_members \
                     WHERE tenant_id = $1 AND list_id = $2 AND contact_id = $3",
                )
                .bind(tenant.0)
                .bind(list.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            }
            removed
        }))
    }
}
