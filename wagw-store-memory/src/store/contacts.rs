use async_trait::async_trait;
use chrono::Utc;
use wagw_core::ids::{ContactId, ContactListId, TenantId};
use wagw_core::model::contact::{Contact, ContactFilter, ContactList};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{ContactStore, Page, Paged, UpsertCounts};
use wagw_core::{Error, Result};

use super::MemoryStore;

#[async_trait]
impl ContactStore for MemoryStore {
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
        let mut state = self.state.write();
        let mut counts = UpsertCounts::default();
        let now = Utc::now();
        for contact in contacts {
            let key = (tenant, contact.phone.clone());
            match state.contact_by_phone.get(&key).copied() {
                Some(id) => {
                    let stored = state.contacts.get_mut(tenant, id)?;
                    if contact.name.is_some() {
                        stored.name.clone_from(&contact.name);
                    }
                    stored.fields.extend(contact.fields.clone());
                    stored.tags.extend(contact.tags.iter().cloned());
                    stored.lists.extend(contact.lists.iter().copied());
                    stored.opted_out |= contact.opted_out;
                    stored.updated_at = now;
                    counts.updated += 1;
                }
                None => {
                    state
                        .contacts
                        .insert_new(tenant, contact.id, contact.clone())?;
                    state.contact_by_phone.insert(key, contact.id);
                    counts.inserted += 1;
                }
            }
        }
        Ok(counts)
    }

    async fn get_contact(&self, tenant: TenantId, id: ContactId) -> Result<Contact> {
        self.state.read().contacts.get(tenant, id).cloned()
    }

    async fn find_contact_by_phone(
        &self,
        tenant: TenantId,
        phone: &PhoneNumber,
    ) -> Result<Contact> {
        let state = self.state.read();
        let id = state
            .contact_by_phone
            .get(&(tenant, phone.clone()))
            .ok_or_else(|| Error::not_found("contact", phone))?;
        state.contacts.get(tenant, *id).cloned()
    }

    async fn update_contact(&self, contact: &Contact) -> Result<()> {
        let mut state = self.state.write();
        let tenant = contact.tenant_id;
        let old_phone = state.contacts.get(tenant, contact.id)?.phone.clone();
        if old_phone != contact.phone {
            let new_key = (tenant, contact.phone.clone());
            if state.contact_by_phone.contains_key(&new_key) {
                return Err(Error::conflict(
                    "contact",
                    format!("{} already exists", contact.phone),
                ));
            }
            state.contact_by_phone.remove(&(tenant, old_phone));
            state.contact_by_phone.insert(new_key, contact.id);
        }
        state.contacts.replace(tenant, contact.id, contact.clone())
    }

    async fn delete_contact(&self, tenant: TenantId, id: ContactId) -> Result<()> {
        let mut state = self.state.write();
        let removed = state.contacts.remove(tenant, id)?;
        state.contact_by_phone.remove(&(tenant, removed.phone));
        Ok(())
    }

    async fn list_contacts(
        &self,
        tenant: TenantId,
        filter: &ContactFilter,
        page: Page,
    ) -> Result<Paged<Contact>> {
        self.state
            .read()
            .contacts
            .page(tenant, &page, |c| filter.matches(c))
    }

    async fn create_list(&self, list: &ContactList) -> Result<()> {
        let mut state = self.state.write();
        if state
            .lists
            .tenant_rows(list.tenant_id)
            .any(|l| l.name == list.name)
        {
            return Err(Error::conflict(
                "contact list",
                format!("{:?} exists", list.name),
            ));
        }
        state
            .lists
            .insert_new(list.tenant_id, list.id, list.clone())
    }

    async fn get_list(&self, tenant: TenantId, id: ContactListId) -> Result<ContactList> {
        self.state.read().lists.get(tenant, id).cloned()
    }

    async fn list_lists(&self, tenant: TenantId, page: Page) -> Result<Paged<ContactList>> {
        self.state.read().lists.page(tenant, &page, |_| true)
    }

    async fn delete_list(&self, tenant: TenantId, id: ContactListId) -> Result<()> {
        let mut state = self.state.write();
        state.lists.remove(tenant, id)?;
        for contact in state.contacts.tenant_rows_mut(tenant) {
            contact.lists.remove(&id);
        }
        Ok(())
    }

    async fn add_to_list(
        &self,
        tenant: TenantId,
        list: ContactListId,
        contacts: &[ContactId],
    ) -> Result<u64> {
        let mut state = self.state.write();
        state.lists.get(tenant, list)?;
        // Check every contact first: a bad id must leave all memberships unchanged.
        for id in contacts {
            state.contacts.get(tenant, *id)?;
        }
        let mut added = 0;
        for id in contacts {
            added += u64::from(state.contacts.get_mut(tenant, *id)?.lists.insert(list));
        }
        Ok(added)
    }

    async fn remove_from_list(
        &self,
        tenant: TenantId,
        list: ContactListId,
        contacts: &[ContactId],
    ) -> Result<u64> {
        let mut state = self.state.write();
        state.lists.get(tenant, list)?;
        let mut removed = 0;
        for id in contacts {
            if let Ok(contact) = state.contacts.get_mut(tenant, *id) {
                removed += u64::from(contact.lists.remove(&list));
            }
        }
        Ok(removed)
    }
}
