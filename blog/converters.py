"""Path converters for the permalinks: /2024/jan/5/slug/ (a four-digit year, a month's
three-letter name, a day without a leading zero)."""


class FourDigitYearConverter:
    regex = "[0-9]{4}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return f"{int(value):04d}"


class MonthConverter:
    regex = "[a-z]{3}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return str(value).lower()


class DayConverter:
    regex = "[0-9]{1,2}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(int(value))
