"""The API's OpenAPI generator (drf-spectacular's, adjusted). It lives apart from conventions.py
because DRF imports the schema class while its own views module is still loading."""

from drf_spectacular.openapi import AutoSchema


class Schema(AutoSchema):
    """drf-spectacular's schema, told that the problem responses keyed (status, media type) are
    not the operation's main response (it would otherwise pick them to decide list vs object)."""

    def _is_list_view(self, serializer=None) -> bool:
        if serializer is None:
            serializer = self.get_response_serializers()
        if isinstance(serializer, dict):
            main = {
                code: s
                for code, s in serializer.items()
                if int(str(code[0] if isinstance(code, tuple) else code)[:3]) < 400
            }
            serializer = main or serializer
        return super()._is_list_view(serializer)
