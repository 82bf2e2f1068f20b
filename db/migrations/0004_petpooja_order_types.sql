-- PetPooja hardening (issue 11): what PetPooja's menu says about order types and taxes.
-- An item's order types (PetPooja's item_ordertype: delivery, pick up, dine in) are kept and
-- enforced on orders; items made here, and every existing item, may be ordered for every type.
-- Taxes need no column: an imported item (external_id set) is taxed at exactly its PetPooja
-- taxes, which menu_item_taxes already holds.
ALTER TABLE menu_items
    ADD COLUMN order_types text[] NOT NULL DEFAULT '{dine_in,takeaway,delivery}'
        CONSTRAINT menu_items_order_types_valid CHECK (order_types <@ ARRAY['dine_in', 'takeaway', 'delivery']);
