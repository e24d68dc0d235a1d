/* bench_event.h — the ~1 KB payment event the single-core benchmarks share
 * (bench_schema validates it, bench_transform transforms it), compact. */
#ifndef HL_BENCH_EVENT_H
#define HL_BENCH_EVENT_H

static const char *const EVENT =
    "{\"eventHeader\":{\"uuid\":\"3f2b8c1e-9d4a-4e6f-8b2a-1c5d7e9f0a1b\",\"eventName\":\"payment.processed\","
    "\"eventType\":\"PaymentProcessed\",\"createdDate\":\"2026-11-24T06:00:00.000Z\",\"savedDate\":\"2026-11-24T06:00:01.000Z\"},"
    "\"paymentId\":\"pay_9Fh3Kd82LmQz\",\"amount\":1234.56,\"currency\":\"EUR\",\"status\":\"CAPTURED\","
    "\"payer\":{\"id\":\"cus_001\",\"name\":\"Ada Lovelace\",\"country\":\"GB\",\"iban\":\"GB33BUKB20201555555555\"},"
    "\"payee\":{\"id\":\"mer_042\",\"name\":\"Analytical Engines Ltd\",\"country\":\"DE\",\"iban\":\"DE89370400440532013000\"},"
    "\"items\":[{\"sku\":\"ENG-1\",\"qty\":1,\"price\":1000.00},{\"sku\":\"CARD-50\",\"qty\":50,\"price\":4.50},"
    "{\"sku\":\"OIL\",\"qty\":2,\"price\":4.78}],"
    "\"metadata\":{\"channel\":\"web\",\"campaign\":\"autumn-2026\",\"note\":\"priority customer, ship with care\","
    "\"region\":\"emea\",\"source\":\"checkout-v3\",\"session\":\"s_8d7f6e5d4c3b2a19\",\"ab\":\"B\","
    "\"referrer\":\"https://shop.example/checkout/confirm?step=3\",\"device\":\"desktop; Linux x86_64; Firefox 132\","
    "\"locale\":\"en-GB\",\"risk\":\"low (score 12 of 100, rules v7)\",\"loyalty\":\"gold tier since 2019\"}}";

#endif
