# Dates as compliance teams in Europe write them: day, abbreviated month, year, so that
# 03 Feb is never read as 2 March. Times are 24-hour. Inputs keep ISO 8601 (HTML date fields).
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i:s"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
FIRST_DAY_OF_WEEK = 1
