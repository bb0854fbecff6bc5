-- States and districts the demo's users live in, with the state's main language (a user's likely
-- preference) and a weight (roughly the share of the portal's users).
CREATE OR REPLACE FUNCTION citizen_src._regions()
RETURNS TABLE (ord integer, location_state text, location_district text, language_code text, weight numeric)
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT row_number() OVER ()::integer, r.state, r.district, r.lang, r.w
    FROM (VALUES
        ('Uttar Pradesh', 'Lucknow', 'hi', 6), ('Uttar Pradesh', 'Varanasi', 'hi', 3), ('Uttar Pradesh', 'Gorakhpur', 'hi', 2),
        ('Maharashtra', 'Mumbai Suburban', 'mr', 5), ('Maharashtra', 'Pune', 'mr', 4), ('Maharashtra', 'Nagpur', 'mr', 2),
        ('Bihar', 'Patna', 'hi', 3), ('Bihar', 'Darbhanga', 'mai', 2),
        ('West Bengal', 'Kolkata', 'bn', 4), ('West Bengal', 'Darjeeling', 'ne', 1),
        ('Tamil Nadu', 'Chennai', 'ta', 4), ('Tamil Nadu', 'Coimbatore', 'ta', 2),
        ('Karnataka', 'Bengaluru Urban', 'kn', 5), ('Karnataka', 'Mysuru', 'kn', 1),
        ('Telangana', 'Hyderabad', 'te', 4), ('Andhra Pradesh', 'Visakhapatnam', 'te', 2),
        ('Gujarat', 'Ahmedabad', 'gu', 3), ('Gujarat', 'Kutch', 'gu', 1),
        ('Rajasthan', 'Jaipur', 'hi', 3), ('Madhya Pradesh', 'Bhopal', 'hi', 2),
        ('Kerala', 'Thiruvananthapuram', 'ml', 2), ('Kerala', 'Ernakulam', 'ml', 2),
        ('Odisha', 'Khordha', 'or', 2), ('Punjab', 'Ludhiana', 'pa', 2), ('Punjab', 'Amritsar', 'pa', 1),
        ('Assam', 'Kamrup Metropolitan', 'as', 2), ('Assam', 'Kokrajhar', 'brx', 1),
        ('Jammu and Kashmir', 'Srinagar', 'ks', 1), ('Jammu and Kashmir', 'Jammu', 'doi', 1),
        ('Goa', 'North Goa', 'kok', 1), ('Manipur', 'Imphal West', 'mni', 1), ('Jharkhand', 'Ranchi', 'sat', 1),
        ('Delhi', 'New Delhi', 'hi', 4), ('Delhi', 'North East Delhi', 'ur', 1), ('Telangana', 'Hyderabad Old City', 'ur', 1),
        ('Uttarakhand', 'Dehradun', 'sa', 1), ('Maharashtra', 'Thane', 'sd', 1)
    ) AS r (state, district, lang, w);
$$;
COMMENT ON FUNCTION citizen_src._regions() IS 'Demo catalog of states and districts with their main language and a user weight.';
REVOKE EXECUTE ON FUNCTION citizen_src._regions() FROM PUBLIC;
