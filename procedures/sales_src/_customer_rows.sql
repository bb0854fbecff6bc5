-- Private helper of the generator: p_count made-up customers (names, contact, city, segment), with
-- signup dates spread evenly from p_signup_from to p_signup_to in row_no order (row 1 signed up first).
-- Draws from random(), so a caller that ran setseed() gets the same rows again.
CREATE OR REPLACE FUNCTION sales_src._customer_rows(
    p_count         integer,
    p_signup_from   date,
    p_signup_to     date
)
RETURNS TABLE (
    row_no              bigint,
    first_name          text,
    last_name           text,
    email               text,
    phone               text,
    city                text,
    country             text,
    customer_segment    text,
    signup_date         date,
    signup_at           timestamptz
)
LANGUAGE sql
VOLATILE
SET search_path = sales_src, pg_temp
AS $$
    WITH pools AS (
        SELECT
            ARRAY['James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'David',
                  'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah',
                  'Daniel', 'Karen', 'Matthew', 'Nancy', 'Anthony', 'Lisa', 'Mark', 'Emma', 'Oliver', 'Sophie',
                  'Lukas', 'Anna', 'Hugo', 'Chloe', 'Mateo', 'Lucia', 'Noah', 'Olivia', 'Liam', 'Mia', 'Ethan',
                  'Ava', 'Aisha', 'Ravi', 'Priya', 'Kenji', 'Yuki', 'Wei', 'Mei', 'Omar', 'Fatima', 'Jack']
                AS first_names,
            ARRAY['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez',
                  'Martinez', 'Hernandez', 'Lopez', 'Wilson', 'Anderson', 'Taylor', 'Thomas', 'Moore', 'Jackson',
                  'Martin', 'Lee', 'Thompson', 'White', 'Harris', 'Clark', 'Lewis', 'Walker', 'Young', 'King',
                  'Wright', 'Scott', 'Green', 'Baker', 'Adams', 'Nelson', 'Hill', 'Campbell', 'Mitchell',
                  'O''Brien', 'Murphy', 'Schmidt', 'Mueller', 'Dubois', 'Rossi', 'Novak', 'Kowalski', 'Tanaka',
                  'Chen', 'Patel', 'Singh', 'Khan']
                AS last_names,
            ARRAY['gmail.com', 'gmail.com', 'gmail.com', 'yahoo.com', 'outlook.com', 'hotmail.com',
                  'icloud.com', 'proton.me', 'aol.com', 'mail.com']
                AS domains
    ),
    cities (city_no, city, country, dial_code) AS (
        VALUES
            (1, 'New York', 'United States', '1'),
            (2, 'Los Angeles', 'United States', '1'),
            (3, 'Chicago', 'United States', '1'),
            (4, 'Houston', 'United States', '1'),
            (5, 'Phoenix', 'United States', '1'),
            (6, 'Philadelphia', 'United States', '1'),
            (7, 'San Antonio', 'United States', '1'),
            (8, 'San Diego', 'United States', '1'),
            (9, 'Dallas', 'United States', '1'),
            (10, 'Seattle', 'United States', '1'),
            (11, 'Boston', 'United States', '1'),
            (12, 'Denver', 'United States', '1'),
            (13, 'Atlanta', 'United States', '1'),
            (14, 'Miami', 'United States', '1'),
            (15, 'Toronto', 'Canada', '1'),
            (16, 'Vancouver', 'Canada', '1'),
            (17, 'Montreal', 'Canada', '1'),
            (18, 'London', 'United Kingdom', '44'),
            (19, 'Manchester', 'United Kingdom', '44'),
            (20, 'Birmingham', 'United Kingdom', '44'),
            (21, 'Berlin', 'Germany', '49'),
            (22, 'Munich', 'Germany', '49'),
            (23, 'Hamburg', 'Germany', '49'),
            (24, 'Paris', 'France', '33'),
            (25, 'Lyon', 'France', '33'),
            (26, 'Madrid', 'Spain', '34'),
            (27, 'Barcelona', 'Spain', '34'),
            (28, 'Milan', 'Italy', '39'),
            (29, 'Amsterdam', 'Netherlands', '31'),
            (30, 'Sydney', 'Australia', '61'),
            (31, 'Melbourne', 'Australia', '61'),
            (32, 'Dublin', 'Ireland', '353')
    ),
    drawn AS (
        SELECT
            g                                   AS row_no,
            random()                            AS r_first,
            random()                            AS r_last,
            random()                            AS r_email_null,
            random()                            AS r_email_format,
            random()                            AS r_email_number,
            random()                            AS r_domain,
            random()                            AS r_phone_null,
            random()                            AS r_phone,
            random()                            AS r_city,
            random()                            AS r_segment,
            random()                            AS r_signup_time
        FROM generate_series(1, p_count) AS g
    ),
    named AS (
        SELECT
            d.*,
            p.first_names[1 + floor(d.r_first * cardinality(p.first_names))::integer]      AS first_name,
            p.last_names[1 + floor(d.r_last * cardinality(p.last_names))::integer]         AS last_name,
            p.domains[1 + floor(d.r_domain * cardinality(p.domains))::integer]             AS domain,
            1 + floor(d.r_city * 32)::integer                                               AS city_no,
            p_signup_from
                + floor((d.row_no - 1) * ((p_signup_to - p_signup_from + 1)::numeric / p_count))::integer
                                                                                            AS signup_date
        FROM drawn AS d
        CROSS JOIN pools AS p
    ),
    email_parts AS (
        SELECT
            n.*,
            regexp_replace(lower(n.first_name), '[^a-z]', '', 'g')                          AS first_part,
            regexp_replace(lower(n.last_name), '[^a-z]', '', 'g')                           AS last_part,
            (10 + floor(n.r_email_number * 90)::integer)::text                              AS number_part
        FROM named AS n
    )
    SELECT
        e.row_no,
        e.first_name,
        e.last_name,
        CASE
            WHEN e.r_email_null < 0.01 THEN NULL
            WHEN e.r_email_format < 0.40 THEN e.first_part || '.' || e.last_part
            WHEN e.r_email_format < 0.70 THEN e.first_part || e.last_part || e.number_part
            WHEN e.r_email_format < 0.90 THEN left(e.first_part, 1) || e.last_part
            ELSE e.last_part || '.' || e.first_part || e.number_part
        END || '@' || e.domain                                                              AS email,
        CASE
            WHEN e.r_phone_null < 0.10 THEN NULL
            ELSE '+' || c.dial_code || ' ' || lpad(floor(e.r_phone * 1e9)::bigint::text, 9, '0')
        END                                                                                 AS phone,
        c.city,
        c.country,
        CASE
            WHEN e.r_segment < 0.60 THEN 'Consumer'
            WHEN e.r_segment < 0.85 THEN 'Corporate'
            ELSE 'Home Office'
        END                                                                                 AS customer_segment,
        e.signup_date,
        (e.signup_date + make_interval(secs => 6 * 3600 + e.r_signup_time * 17 * 3600))::timestamptz
                                                                                            AS signup_at
    FROM email_parts AS e
    JOIN cities AS c
        ON c.city_no = e.city_no
    ORDER BY e.row_no;
$$;
COMMENT ON FUNCTION sales_src._customer_rows(integer, date, date) IS 'Generator helper: p_count random customers with signup dates spread evenly over [p_signup_from, p_signup_to] in row_no order; about 1% without e-mail, 10% without phone.';
