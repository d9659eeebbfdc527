-- tablecache benchmark schema (see bench/SPEC.md). Drops and recreates the
-- five tables; indexes and foreign keys are added by generate.sql after the
-- bulk load.
SET client_min_messages = warning;
DROP TABLE IF EXISTS orders, customers, regions, products, categories, bench_meta CASCADE;
RESET client_min_messages;

CREATE TABLE regions (
    id   integer PRIMARY KEY,
    name text    NOT NULL
);
CREATE TABLE customers (
    id        bigint  PRIMARY KEY,
    name      text    NOT NULL,
    region_id integer NOT NULL
);
CREATE TABLE categories (
    id   integer PRIMARY KEY,
    name text    NOT NULL
);
CREATE TABLE products (
    id          integer PRIMARY KEY,
    title       text    NOT NULL,
    category_id integer NOT NULL
);
CREATE TABLE orders (
    id          bigint        PRIMARY KEY,
    customer_id bigint        NOT NULL,
    product_id  integer       NOT NULL,
    created_at  timestamptz   NOT NULL,
    amount      numeric(10,2) NOT NULL,
    status      text          NOT NULL
);
-- What was generated, so that workloads can compute the window.
CREATE TABLE bench_meta (
    scale      numeric     NOT NULL,
    reference  timestamptz NOT NULL,   -- "now" of the data set: every order is in [reference - 30 days, reference)
    n_orders   bigint      NOT NULL,
    n_customers bigint     NOT NULL
);
