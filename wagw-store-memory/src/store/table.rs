use std::collections::BTreeMap;
use std::ops::Bound;
use std::str::FromStr;

use uuid::Uuid;
use wagw_core::ids::TenantId;
use wagw_core::store::{Page, Paged};
use wagw_core::{Error, Result};

/// Rows of one entity kind, keyed by (tenant, id). Keying by tenant first makes every read a
/// range inside one tenant, so isolation is structural rather than a filter to remember.
#[derive(Debug)]
pub(crate) struct Table<K, V> {
    entity: &'static str,
    rows: BTreeMap<(TenantId, K), V>,
}

impl<K, V> Table<K, V>
where
    K: Ord + Copy + From<Uuid> + FromStr + std::fmt::Display,
    V: Clone,
{
    pub(crate) fn new(entity: &'static str) -> Self {
        Self {
            entity,
            rows: BTreeMap::new(),
        }
    }

    pub(crate) fn get(&self, tenant: TenantId, id: K) -> Result<&V> {
        self.rows
            .get(&(tenant, id))
            .ok_or_else(|| Error::not_found(self.entity, id))
    }

    pub(crate) fn get_mut(&mut self, tenant: TenantId, id: K) -> Result<&mut V> {
        let entity = self.entity;
        self.rows
            .get_mut(&(tenant, id))
            .ok_or_else(|| Error::not_found(entity, id))
    }

    pub(crate) fn contains(&self, tenant: TenantId, id: K) -> bool {
        self.rows.contains_key(&(tenant, id))
    }

    /// Inserts a new row; an existing id is a conflict.
    pub(crate) fn insert_new(&mut self, tenant: TenantId, id: K, value: V) -> Result<()> {
        if self.rows.contains_key(&(tenant, id)) {
            return Err(Error::conflict(self.entity, format!("{id} already exists")));
        }
        self.rows.insert((tenant, id), value);
        Ok(())
    }

    /// Replaces an existing row of this tenant.
    pub(crate) fn replace(&mut self, tenant: TenantId, id: K, value: V) -> Result<()> {
        *self.get_mut(tenant, id)? = value;
        Ok(())
    }

    pub(crate) fn remove(&mut self, tenant: TenantId, id: K) -> Result<V> {
        self.rows
            .remove(&(tenant, id))
            .ok_or_else(|| Error::not_found(self.entity, id))
    }

    /// The tenant's rows in id (creation) order, starting after `after`.
    pub(crate) fn iter_after(
        &self,
        tenant: TenantId,
        after: Option<K>,
    ) -> impl Iterator<Item = (&K, &V)> {
        let start = match after {
            Some(id) => Bound::Excluded((tenant, id)),
            None => Bound::Included((tenant, K::from(Uuid::nil()))),
        };
        self.rows
            .range((start, Bound::Unbounded))
            .take_while(move |((t, _), _)| *t == tenant)
            .map(|((_, id), v)| (id, v))
    }

    pub(crate) fn tenant_rows(&self, tenant: TenantId) -> impl Iterator<Item = &V> {
        self.iter_after(tenant, None).map(|(_, v)| v)
    }

    pub(crate) fn tenant_rows_mut(&mut self, tenant: TenantId) -> impl Iterator<Item = &mut V> {
        let start = Bound::Included((tenant, K::from(Uuid::nil())));
        self.rows
            .range_mut((start, Bound::Unbounded))
            .take_while(move |((t, _), _)| *t == tenant)
            .map(|(_, v)| v)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &V> {
        self.rows.values()
    }

    pub(crate) fn all_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.rows.values_mut()
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.rows.retain(|_, v| keep(v));
    }

    /// One page of the tenant's rows passing `filter`.
    pub(crate) fn page(
        &self,
        tenant: TenantId,
        page: &Page,
        filter: impl Fn(&V) -> bool,
    ) -> Result<Paged<V>> {
        let limit = page.effective_limit();
        let after = parse_cursor::<K>(page)?;
        let items: Vec<(K, V)> = self
            .iter_after(tenant, after)
            .filter(|(_, v)| filter(v))
            .take(limit + 1)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let paged = Paged::from_overfetch(items, limit, |(k, _)| k.to_string());
        Ok(Paged {
            items: paged.items.into_iter().map(|(_, v)| v).collect(),
            next: paged.next,
        })
    }
}

pub(crate) fn parse_cursor<K: FromStr>(page: &Page) -> Result<Option<K>> {
    page.after
        .as_deref()
        .map(|c| {
            c.parse::<K>()
                .map_err(|_| Error::invalid_input("after", format!("{c:?} is not a cursor")))
        })
        .transpose()
}
