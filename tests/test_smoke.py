from tests.conftest import expect, order_body


async def test_a_guest_orders_from_the_table_and_staff_sees_it(client, make_restaurant, open_guest):
    r = await make_restaurant()
    guest = await open_guest(r)
    order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    assert order["subtotal"] == 2 * 25000 + 18050
    listed = expect(await client.get(r.url("/orders"), headers=r.owner.headers), 200)
    assert [o["id"] for o in listed["items"]] == [order["id"]]
