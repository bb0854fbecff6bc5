-- Initial load of the demo source: customers, products and a year of sales, set-based and reproducible.
--   CALL sales_src.generate(p_scale => 1.0, p_seed => 0.42);
-- Scale 1: 50,000 customers, 2,000 products, ~1,000,000 sales lines in ~452,000 orders of 1-5 lines over
-- the 365 days before current_date. Every reference is valid: no bad rows in the initial load.
-- Keys are assigned explicitly (1..n) and the identity sequences moved past them, so the same seed gives
-- the same rows whatever the sequences' state. A seed outside [-1, 1] (setseed's range) is mapped to
-- (p_seed mod 1000003) / 1000003.
-- p_today (default current_date) is the day the load is made on: the sales cover the 365 days before it,
-- or the days from p_from (e.g. DATE '2025-01-01', so seed 004's January-2025 examples find sales: `dwh
-- demo --from 2025-01-01`) to the day before it; the same number of lines, spread over those days.
-- Each line's tax_amount is 8% of its net amount (quantity x unit_price - discount_amount), rounded to cents.
-- Fixing it (with the seed) makes the whole load reproducible on any day, e.g. for a content fingerprint
-- (scripts/table_fingerprint.py). The session's TimeZone places the times of day: callers pin UTC.
DROP PROCEDURE IF EXISTS sales_src.generate(numeric, double precision);
DROP PROCEDURE IF EXISTS sales_src.generate(numeric, double precision, date);
CREATE OR REPLACE PROCEDURE sales_src.generate(
    p_scale     numeric DEFAULT 1.0,
    p_seed      double precision DEFAULT 0.42,
    p_today     date DEFAULT NULL,
    p_from      date DEFAULT NULL
)
LANGUAGE plpgsql
SET search_path = sales_src, pg_temp
AS $$
DECLARE
    c_mean_lines_per_order  CONSTANT numeric := 2.21;  -- mean of _order_lines' 1-5 line distribution
    c_signup_days           CONSTANT integer := 3 * 365;
    c_tax_rate              CONSTANT numeric := 0.08;
    v_started               timestamptz := clock_timestamp();
    v_seed                  double precision;
    v_first_day             date := coalesce(p_from, coalesce(p_today, current_date) - 365);
    v_last_day              date := coalesce(p_today, current_date) - 1;
    -- customers signed up from three years before the load, or a year before p_from when earlier
    v_signup_from           date := least(coalesce(p_today, current_date) - c_signup_days,
                                          coalesce(p_from - 365, coalesce(p_today, current_date) - c_signup_days));
    v_signup_days           integer := coalesce(p_today, current_date) - v_signup_from;
    v_customer_count        integer;
    v_product_count         integer;
    v_order_count           integer;
    v_sales_count           bigint;
    v_day_pool              date[];
    v_customer_ids          bigint[];
    v_product_ids           bigint[];
    v_product_prices        numeric[];
    v_existing              text;
BEGIN
    IF p_scale IS NULL OR p_scale <= 0 OR p_scale > 1000 THEN
        RAISE EXCEPTION 'invalid scale %', p_scale
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'p_scale must be > 0 and <= 1000 (scale 1 is about 1,000,000 sales lines).',
                  HINT = 'CALL sales_src.generate(p_scale => 0.01) for a small data set.';
    END IF;
    IF p_from IS NOT NULL AND (p_from > v_last_day OR p_from < v_last_day - 36500) THEN
        RAISE EXCEPTION 'invalid p_from %: the sales end the day before the load (%)', p_from, v_last_day + 1
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'p_from is the first day of sales, before p_today (default current_date) and at most 100 years before it.';
    END IF;
    IF p_seed IS NULL OR p_seed = 'NaN'::double precision OR p_seed IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'invalid seed %', p_seed
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a finite number, e.g. p_seed => 0.42.';
    END IF;

    IF NOT pg_try_advisory_xact_lock(hashtext('sales_src.generate')) THEN
        RAISE EXCEPTION 'another session is generating data in sales_src'
            USING ERRCODE = 'lock_not_available',
                  HINT = 'Wait for the other sales_src.generate / generate_next_day call to finish.';
    END IF;

    -- The initial load only: refuse to mix with existing data.
    SELECT string_agg(t.table_name, ', ' ORDER BY t.table_name)
    INTO v_existing
    FROM (
        SELECT 'sales_src.sales' AS table_name WHERE EXISTS (SELECT 1 FROM sales_src.sales)
        UNION ALL
        SELECT 'sales_src.customers' WHERE EXISTS (SELECT 1 FROM sales_src.customers)
        UNION ALL
        SELECT 'sales_src.products' WHERE EXISTS (SELECT 1 FROM sales_src.products)
    ) AS t;
    IF v_existing IS NOT NULL THEN
        RAISE EXCEPTION 'sales_src already holds data (rows in %)', v_existing
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'sales_src.generate() makes the initial load and only runs on empty tables.',
                  HINT = 'Add a day with CALL sales_src.generate_next_day(), or start over with '
                         'TRUNCATE sales_src.sales, sales_src.customers, sales_src.products, sales_src.deleted_records RESTART IDENTITY;';
    END IF;

    v_seed := CASE
                  WHEN p_seed BETWEEN -1 AND 1 THEN p_seed
                  ELSE ((p_seed::numeric % 1000003) / 1000003)::double precision
              END;
    PERFORM setseed(v_seed);

    v_customer_count := greatest(100, round(50000 * p_scale));
    v_product_count := greatest(50, round(2000 * sqrt(p_scale)));
    v_order_count := greatest(1, round(1000000 * p_scale / c_mean_lines_per_order));

    -- Customers: signups spread over the last three years (or since a year before p_from), ids in signup order.
    INSERT INTO sales_src.customers (
        customer_id, first_name, last_name, email, phone, city, country, customer_segment,
        signup_date, created_at, updated_at
    )
    SELECT
        c.row_no,
        c.first_name,
        c.last_name,
        c.email,
        c.phone,
        c.city,
        c.country,
        c.customer_segment,
        c.signup_date,
        c.signup_at,
        c.signup_at
    FROM sales_src._customer_rows(
        p_count       => v_customer_count,
        p_signup_from => v_signup_from,
        p_signup_to   => v_last_day
    ) AS c;

    -- Products: a group, a subcategory of it, a brand; prices log-normal around the group's median.
    INSERT INTO sales_src.products (
        product_id, product_name, product_group, category, brand, unit_price, unit_cost, is_active,
        created_at, updated_at
    )
    WITH product_groups (group_no, product_group, weight, median_price, price_sigma, categories, nouns, brands) AS (
        VALUES
            (1, 'Electronics', 14, 120.0, 0.9,
                ARRAY['Laptops', 'Smartphones', 'Headphones', 'Monitors', 'Cameras', 'Accessories'],
                ARRAY['Laptop', 'Smartphone', 'Headphones', 'Monitor', 'Camera', 'Charger'],
                ARRAY['Voltra', 'Nexon', 'Lumina', 'Corebit', 'Sonique']),
            (2, 'Furniture', 6, 180.0, 0.7,
                ARRAY['Chairs', 'Desks', 'Bookcases', 'Tables', 'Storage'],
                ARRAY['Chair', 'Desk', 'Bookcase', 'Table', 'Cabinet'],
                ARRAY['Oakline', 'Nordhaus', 'Casa Verde', 'Ironwood']),
            (3, 'Office Supplies', 20, 8.0, 0.8,
                ARRAY['Paper', 'Binders', 'Pens', 'Labels', 'Envelopes', 'Staplers'],
                ARRAY['Paper Ream', 'Binder', 'Pen Set', 'Label Pack', 'Envelope Pack', 'Stapler'],
                ARRAY['Penwick', 'Clipster', 'Officio', 'Ledger & Co']),
            (4, 'Clothing', 18, 35.0, 0.6,
                ARRAY['Shirts', 'Jeans', 'Jackets', 'Shoes', 'Dresses'],
                ARRAY['Shirt', 'Jeans', 'Jacket', 'Sneakers', 'Dress'],
                ARRAY['Urban Thread', 'Mistral', 'Northpeak', 'Linen & Loom']),
            (5, 'Sports', 12, 40.0, 0.9,
                ARRAY['Fitness', 'Cycling', 'Camping', 'Team Sports', 'Running'],
                ARRAY['Dumbbell Set', 'Bike Helmet', 'Tent', 'Football', 'Running Shoes'],
                ARRAY['Apex', 'Stride', 'Summit Gear', 'Velox']),
            (6, 'Toys', 10, 20.0, 0.7,
                ARRAY['Puzzles', 'Building Sets', 'Dolls', 'Board Games', 'Outdoor Toys'],
                ARRAY['Puzzle', 'Building Set', 'Doll', 'Board Game', 'Kite'],
                ARRAY['Playfield', 'Brickly', 'Tinytown', 'Funforge']),
            (7, 'Books', 12, 15.0, 0.4,
                ARRAY['Fiction', 'Non-Fiction', 'Children', 'Cookbooks', 'Technical'],
                ARRAY['Novel', 'Biography', 'Picture Book', 'Cookbook', 'Handbook'],
                ARRAY['Harbor Press', 'Quill House', 'Lantern Books', 'Redleaf']),
            (8, 'Garden', 8, 30.0, 0.8,
                ARRAY['Tools', 'Planters', 'Lighting', 'Furniture', 'Seeds'],
                ARRAY['Pruner', 'Planter', 'Solar Lamp', 'Bench', 'Seed Kit'],
                ARRAY['Greenfield', 'Terra', 'Bloomwell', 'Rootstock'])
    ),
    group_pool AS (
        SELECT array_agg(g.group_no ORDER BY g.group_no, k.copy_no) AS group_nos
        FROM product_groups AS g
        CROSS JOIN LATERAL generate_series(1, g.weight) AS k(copy_no)
    ),
    drawn AS (
        SELECT
            n                                                                       AS product_id,
            gp.group_nos[1 + floor(random() * cardinality(gp.group_nos))::integer]  AS group_no,
            random()                                                                AS r_category,
            random()                                                                AS r_brand,
            random()                                                                AS r_adjective,
            random()                                                                AS r_model_letter,
            random()                                                                AS r_model_number,
            1.0 - random()                                                          AS r_normal_1,  -- (0, 1]
            random()                                                                AS r_normal_2,
            random()                                                                AS r_margin,
            random()                                                                AS r_created
        FROM generate_series(1, v_product_count) AS n
        CROSS JOIN group_pool AS gp
    ),
    described AS (
        SELECT
            d.product_id,
            g.product_group,
            1 + floor(d.r_category * cardinality(g.categories))::integer            AS category_index,
            g.categories,
            g.nouns,
            g.brands[1 + floor(d.r_brand * cardinality(g.brands))::integer]         AS brand,
            (ARRAY['Classic', 'Pro', 'Lite', 'Max', 'Eco', 'Deluxe', 'Essential', 'Plus', 'Ultra', 'Compact'])
                [1 + floor(d.r_adjective * 10)::integer]                             AS adjective,
            chr(65 + floor(d.r_model_letter * 26)::integer)
                || lpad(floor(d.r_model_number * 1000)::integer::text, 3, '0')      AS model,
            -- log-normal: median * exp(sigma * z), z standard normal by Box-Muller
            g.median_price * exp(g.price_sigma * sqrt(-2 * ln(d.r_normal_1)) * cos(2 * pi() * d.r_normal_2))
                                                                                    AS raw_price,
            d.r_margin,
            d.r_created
        FROM drawn AS d
        JOIN product_groups AS g
            ON g.group_no = d.group_no
    ),
    priced AS (
        SELECT
            s.*,
            (least(floor(s.raw_price), 9999) + 0.99)::numeric(10,2)                AS unit_price
        FROM described AS s
    )
    SELECT
        p.product_id,
        p.brand || ' ' || p.adjective || ' ' || p.nouns[p.category_index] || ' ' || p.model,
        p.product_group,
        p.categories[p.category_index],
        p.brand,
        p.unit_price,
        round(p.unit_price * (0.45 + 0.30 * p.r_margin::numeric), 2),
        true,
        (v_first_day - 1 - floor(p.r_created * 730)::integer + make_interval(secs => 8 * 3600 + p.r_created * 3600))::timestamptz,
        (v_first_day - 1 - floor(p.r_created * 730)::integer + make_interval(secs => 8 * 3600 + p.r_created * 3600))::timestamptz
    FROM priced AS p;

    -- Sales days: more on weekends, in November and December (most before Christmas), fewer in January
    -- and February, plus a slow growth over the year. A day appears in the pool as often as its weight.
    WITH days AS (
        SELECT
            d::date                                                                 AS sale_day,
            row_number() OVER (ORDER BY d)                                          AS day_no
        FROM generate_series(v_first_day, v_last_day, interval '1 day') AS d
    ),
    weighted AS (
        SELECT
            s.sale_day,
            round(20
                  * CASE WHEN extract(isodow FROM s.sale_day) IN (6, 7) THEN 1.35
                         WHEN extract(isodow FROM s.sale_day) = 5 THEN 1.10
                         ELSE 1.0 END
                  * CASE extract(month FROM s.sale_day)
                         WHEN 12 THEN CASE WHEN extract(day FROM s.sale_day) BETWEEN 10 AND 23 THEN 1.8
                                           WHEN extract(day FROM s.sale_day) = 25 THEN 0.4
                                           ELSE 1.3 END
                         WHEN 11 THEN 1.2
                         WHEN 1 THEN 0.85
                         WHEN 2 THEN 0.9
                         ELSE 1.0 END
                  * (0.9 + 0.2 * s.day_no / 365.0))::integer                        AS weight
        FROM days AS s
    )
    SELECT array_agg(w.sale_day ORDER BY w.sale_day, k.copy_no)
    INTO v_day_pool
    FROM weighted AS w
    CROSS JOIN LATERAL generate_series(1, w.weight) AS k(copy_no);

    SELECT array_agg(c.customer_id ORDER BY c.customer_id)
    INTO v_customer_ids
    FROM sales_src.customers AS c;

    SELECT array_agg(p.product_id ORDER BY p.product_id),
           array_agg(p.unit_price ORDER BY p.product_id)
    INTO v_product_ids, v_product_prices
    FROM sales_src.products AS p;

    -- Sales lines: ids in order of transaction_date; written when they happened.
    INSERT INTO sales_src.sales (
        sale_id, order_id, line_number, customer_id, product_id, quantity, unit_price, discount_amount,
        transaction_date, created_at, updated_at, tax_amount
    )
    SELECT
        l.sale_id,
        l.order_no,
        l.line_number,
        l.customer_id,
        l.product_id,
        l.quantity,
        l.unit_price,
        l.discount_amount,
        l.transaction_date,
        l.transaction_date,
        l.transaction_date,
        round((l.quantity * l.unit_price - l.discount_amount) * c_tax_rate, 2)
    FROM sales_src._order_lines(
        p_order_count    => v_order_count,
        p_day_pool       => v_day_pool,
        p_customer_ids   => v_customer_ids,
        p_product_ids    => v_product_ids,
        p_product_prices => v_product_prices,
        p_signup_from    => v_signup_from,
        p_signup_days    => v_signup_days
    ) WITH ORDINALITY AS l(order_no, line_number, customer_id, product_id, quantity, unit_price,
                           discount_amount, transaction_date, sale_id);
    GET DIAGNOSTICS v_sales_count = ROW_COUNT;

    -- Later inserts (generate_next_day, an application) take their keys from the sequences.
    PERFORM setval(pg_get_serial_sequence('sales_src.customers', 'customer_id'), v_customer_count);
    PERFORM setval(pg_get_serial_sequence('sales_src.products', 'product_id'), v_product_count);
    PERFORM setval(pg_get_serial_sequence('sales_src.sales', 'sale_id'), greatest(v_sales_count, 1));

    ANALYZE sales_src.customers;
    ANALYZE sales_src.products;
    ANALYZE sales_src.sales;

    RAISE NOTICE 'sales_src.generate: % customers, % products, % sales lines in % orders from % to %, scale %, seed %, in % ms',
        v_customer_count, v_product_count, v_sales_count, v_order_count, v_first_day, v_last_day, p_scale, p_seed,
        round(extract(epoch FROM clock_timestamp() - v_started) * 1000);
END;
$$;
COMMENT ON PROCEDURE sales_src.generate(numeric, double precision, date, date) IS 'Initial load of the demo source, reproducible by seed (and p_today): round(50000*p_scale) customers (min 100), round(2000*sqrt(p_scale)) products (min 50), about 1,000,000*p_scale clean sales lines (8% tax each) over the 365 days before p_today (default current_date), or from p_from to the day before p_today. Refuses (SQLSTATE 55000) when sales_src already holds rows.';
