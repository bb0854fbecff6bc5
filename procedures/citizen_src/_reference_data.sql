-- The portal's reference data for the demo source, as of p_at: departments, content sources (with their
-- sync schedules), services of several departments and categories, the 22 scheduled languages of India
-- and English (script, direction: Urdu and Kashmiri are right to left), query types and content types.
-- Fixed catalogs (no randomness): the same for every seed. Called once by citizen_src.generate.
CREATE OR REPLACE PROCEDURE citizen_src._reference_data(
    p_at timestamptz
)
LANGUAGE plpgsql
SET search_path = citizen_src, pg_temp
AS $$
BEGIN
    INSERT INTO citizen_src.departments (department_id, department_name, ministry, created_at, updated_at)
    SELECT d.id, d.name, d.ministry, p_at, p_at
    FROM (VALUES
        ('MEA',    'Consular, Passport and Visa Division', 'Ministry of External Affairs'),
        ('UIDAI',  'Unique Identification Authority of India', 'Ministry of Electronics and Information Technology'),
        ('CBDT',   'Central Board of Direct Taxes', 'Ministry of Finance'),
        ('MORTH',  'Road Transport and Highways', 'Ministry of Road Transport and Highways'),
        ('ECI',    'Election Commission of India', 'Election Commission'),
        ('NHA',    'National Health Authority', 'Ministry of Health and Family Welfare'),
        ('EPFO',   'Employees'' Provident Fund Organisation', 'Ministry of Labour and Employment'),
        ('DOAFW',  'Agriculture and Farmers Welfare', 'Ministry of Agriculture and Farmers Welfare'),
        ('MOE',    'Higher Education', 'Ministry of Education'),
        ('MORD',   'Rural Development', 'Ministry of Rural Development'),
        ('DOP',    'Department of Posts', 'Ministry of Communications'),
        ('MEITY',  'Digital India', 'Ministry of Electronics and Information Technology')
    ) AS d (id, name, ministry);

    INSERT INTO citizen_src.content_sources (source_name, source_type, reliability_score, update_frequency, sync_schedule,
                                             last_sync, is_active, contact_info, created_at, updated_at)
    SELECT s.name, s.type, s.reliability, s.frequency, s.schedule, NULL, true,
           jsonb_build_object('owner', s.owner, 'email', s.email), p_at, p_at
    FROM (VALUES
        ('apisetu',        'api',      0.98, 'real_time', '0 * * * *',   'MeitY API Setu',        'apisetu@digitalindia.gov.in'),
        ('uidai',          'api',      0.97, 'daily',     '30 0 * * *',  'UIDAI',                 'help@uidai.gov.in'),
        ('passportindia',  'scraped',  0.90, 'daily',     '0 1 * * *',   'Passport Seva',         'passportseva@mea.gov.in'),
        ('incometax',      'scraped',  0.88, 'weekly',    '0 2 * * 1',   'Income Tax Department', 'efiling@incometax.gov.in'),
        ('parivahan',      'api',      0.95, 'daily',     '15 1 * * *',  'Parivahan Sewa',        'helpdesk-sarathi@gov.in'),
        ('nvsp',           'scraped',  0.85, 'weekly',    '0 3 * * 1',   'Voters'' Service Portal', 'complaints@eci.gov.in'),
        ('digilocker',     'document', 0.96, 'daily',     '45 0 * * *',  'DigiLocker',            'support@digitallocker.gov.in'),
        ('data_gov_in',    'api',      0.93, 'daily',     '0 4 * * *',   'Open Government Data',  'data-ogd@gov.in'),
        ('epfo',           'scraped',  0.82, 'monthly',   '0 5 1 * *',   'EPFO',                  'employeefeedback@epfindia.gov.in'),
        ('mygov_editorial','manual',   0.99, 'weekly',    '0 6 * * 5',   'MyGov editorial desk',  'editor@mygov.nic.in')
    ) AS s (name, type, reliability, frequency, schedule, owner, email);

    INSERT INTO citizen_src.services (service_id, service_name, service_category, department_id, is_active, priority_level,
                                      service_type, data_source, created_at, updated_at)
    SELECT s.id, s.name, s.category, s.dept, true, s.priority, s.type, s.source, p_at, p_at
    FROM (VALUES
        (101, 'Passport application',            'identity_documents', 'MEA',   1, 'scraped',  'passportindia'),
        (102, 'Passport application status',     'identity_documents', 'MEA',   2, 'scraped',  'passportindia'),
        (103, 'Aadhaar address update',          'identity_documents', 'UIDAI', 1, 'api',      'uidai'),
        (104, 'Aadhaar authentication',          'identity_documents', 'UIDAI', 1, 'api',      'apisetu'),
        (105, 'Download e-Aadhaar',              'identity_documents', 'UIDAI', 2, 'document', 'digilocker'),
        (106, 'PAN card application',            'taxation',           'CBDT',  2, 'scraped',  'incometax'),
        (107, 'Income tax return filing',        'taxation',           'CBDT',  1, 'scraped',  'incometax'),
        (108, 'Link PAN with Aadhaar',           'taxation',           'CBDT',  2, 'api',      'apisetu'),
        (109, 'Driving licence renewal',         'transport',          'MORTH', 2, 'api',      'parivahan'),
        (110, 'Vehicle registration',            'transport',          'MORTH', 3, 'api',      'parivahan'),
        (111, 'Voter ID registration',           'elections',          'ECI',   2, 'scraped',  'nvsp'),
        (112, 'Search name in electoral roll',   'elections',          'ECI',   3, 'scraped',  'nvsp'),
        (113, 'Ayushman Bharat card',            'health',             'NHA',   1, 'api',      'apisetu'),
        (114, 'Hospital empanelment search',     'health',             'NHA',   4, 'api',      'data_gov_in'),
        (115, 'EPF balance check',               'employment',         'EPFO',  2, 'scraped',  'epfo'),
        (116, 'EPF withdrawal claim',            'employment',         'EPFO',  2, 'scraped',  'epfo'),
        (117, 'PM-KISAN beneficiary status',     'agriculture',        'DOAFW', 1, 'api',      'apisetu'),
        (118, 'Soil health card',                'agriculture',        'DOAFW', 4, 'api',      'data_gov_in'),
        (119, 'National scholarship application','education',          'MOE',   2, 'api',      'apisetu'),
        (120, 'Degree certificate (DigiLocker)', 'education',          'MOE',   3, 'document', 'digilocker'),
        (121, 'MGNREGA job card',                'social_welfare',     'MORD',  2, 'api',      'data_gov_in'),
        (122, 'PM Awas Yojana status',           'social_welfare',     'MORD',  3, 'api',      'data_gov_in'),
        (123, 'Speed post tracking',             'postal',             'DOP',   4, 'api',      'apisetu'),
        (124, 'Digital India services guide',    'general_information','MEITY', 5, 'document', 'mygov_editorial')
    ) AS s (id, name, category, dept, priority, type, source);

    INSERT INTO citizen_src.languages (language_code, language_name, native_name, script_type, is_rtl, is_supported,
                                       is_scheduled, created_at, updated_at)
    SELECT l.code, l.name, l.native, l.script, l.script = 'perso_arabic', true, l.code <> 'en', p_at, p_at
    FROM (VALUES
        ('en',  'English',   'English',    'latin'),
        ('as',  'Assamese',  'অসমীয়া',     'bengali'),
        ('bn',  'Bengali',   'বাংলা',       'bengali'),
        ('brx', 'Bodo',      'बड़ो',         'devanagari'),
        ('doi', 'Dogri',     'डोगरी',       'devanagari'),
        ('gu',  'Gujarati',  'ગુજરાતી',     'gujarati'),
        ('hi',  'Hindi',     'हिन्दी',       'devanagari'),
        ('kn',  'Kannada',   'ಕನ್ನಡ',       'kannada'),
        ('ks',  'Kashmiri',  'کٲشُر',       'perso_arabic'),
        ('kok', 'Konkani',   'कोंकणी',      'devanagari'),
        ('mai', 'Maithili',  'मैथिली',      'devanagari'),
        ('ml',  'Malayalam', 'മലയാളം',     'malayalam'),
        ('mni', 'Manipuri',  'ꯃꯤꯇꯩꯂꯣꯟ',    'meitei'),
        ('mr',  'Marathi',   'मराठी',       'devanagari'),
        ('ne',  'Nepali',    'नेपाली',      'devanagari'),
        ('or',  'Odia',      'ଓଡ଼ିଆ',        'odia'),
        ('pa',  'Punjabi',   'ਪੰਜਾਬੀ',      'gurmukhi'),
        ('sa',  'Sanskrit',  'संस्कृतम्',    'devanagari'),
        ('sat', 'Santali',   'ᱥᱟᱱᱛᱟᱲᱤ',    'ol_chiki'),
        -- Sindhi is written in Devanagari and in Perso-Arabic in India; the portal serves the Devanagari form
        ('sd',  'Sindhi',    'सिन्धी',       'devanagari'),
        ('ta',  'Tamil',     'தமிழ்',       'tamil'),
        ('te',  'Telugu',    'తెలుగు',      'telugu'),
        ('ur',  'Urdu',      'اردو',        'perso_arabic')
    ) AS l (code, name, native, script);

    INSERT INTO citizen_src.query_types (query_type, query_category, complexity_level, expected_response_time_ms,
                                         is_api_required, description, created_at, updated_at)
    VALUES ('search',       'general',    'simple',   300,  false, 'Free-text search across services and content', p_at, p_at),
           ('information',  'general',    'simple',   250,  false, 'Read the information page of a service', p_at, p_at),
           ('status_check', 'specific',   'moderate', 900,  true,  'Status of an application at the owning department (live API call)', p_at, p_at),
           ('verification', 'procedural', 'complex',  1500, true,  'Verify a document or identity against the issuing system', p_at, p_at);

    INSERT INTO citizen_src.content_types (content_type, type_name, is_downloadable, description, created_at, updated_at)
    VALUES ('procedure', 'Step-by-step procedure', false, 'How to apply: steps, fees, documents needed', p_at, p_at),
           ('document',  'Form or document',       true,  'Downloadable form, circular or certificate template (PDF)', p_at, p_at),
           ('faq',       'Frequently asked questions', false, 'Questions and answers about a service', p_at, p_at),
           ('article',   'Article',                false, 'Explainer or news article about a scheme', p_at, p_at);
END;
$$;
COMMENT ON PROCEDURE citizen_src._reference_data(timestamptz) IS 'Fill the citizen demo source''s reference tables (departments, content sources, 24 services, 23 languages, query and content types) as of p_at.';
REVOKE EXECUTE ON PROCEDURE citizen_src._reference_data(timestamptz) FROM PUBLIC;
