from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Template(_message.Message):
    __slots__ = ("name", "language", "components")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    language: str
    components: _containers.RepeatedCompositeFieldContainer[TemplateComponent]
    def __init__(self, name: _Optional[str] = ..., language: _Optional[str] = ..., components: _Optional[_Iterable[_Union[TemplateComponent, _Mapping]]] = ...) -> None: ...

class TemplateComponent(_message.Message):
    __slots__ = ("type", "sub_type", "index", "parameters")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[TemplateComponent.Type]
        HEADER: _ClassVar[TemplateComponent.Type]
        BODY: _ClassVar[TemplateComponent.Type]
        BUTTON: _ClassVar[TemplateComponent.Type]
    TYPE_UNSPECIFIED: TemplateComponent.Type
    HEADER: TemplateComponent.Type
    BODY: TemplateComponent.Type
    BUTTON: TemplateComponent.Type
    class ButtonType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        BUTTON_TYPE_UNSPECIFIED: _ClassVar[TemplateComponent.ButtonType]
        QUICK_REPLY: _ClassVar[TemplateComponent.ButtonType]
        URL: _ClassVar[TemplateComponent.ButtonType]
        COPY_CODE: _ClassVar[TemplateComponent.ButtonType]
    BUTTON_TYPE_UNSPECIFIED: TemplateComponent.ButtonType
    QUICK_REPLY: TemplateComponent.ButtonType
    URL: TemplateComponent.ButtonType
    COPY_CODE: TemplateComponent.ButtonType
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUB_TYPE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    type: TemplateComponent.Type
    sub_type: TemplateComponent.ButtonType
    index: int
    parameters: _containers.RepeatedCompositeFieldContainer[TemplateParameter]
    def __init__(self, type: _Optional[_Union[TemplateComponent.Type, str]] = ..., sub_type: _Optional[_Union[TemplateComponent.ButtonType, str]] = ..., index: _Optional[int] = ..., parameters: _Optional[_Iterable[_Union[TemplateParameter, _Mapping]]] = ...) -> None: ...

class TemplateParameter(_message.Message):
    __slots__ = ("type", "parameter_name", "text", "currency", "date_time", "media", "payload", "coupon_code")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[TemplateParameter.Type]
        TEXT: _ClassVar[TemplateParameter.Type]
        CURRENCY: _ClassVar[TemplateParameter.Type]
        DATE_TIME: _ClassVar[TemplateParameter.Type]
        IMAGE: _ClassVar[TemplateParameter.Type]
        DOCUMENT: _ClassVar[TemplateParameter.Type]
        VIDEO: _ClassVar[TemplateParameter.Type]
        PAYLOAD: _ClassVar[TemplateParameter.Type]
        COUPON_CODE: _ClassVar[TemplateParameter.Type]
    TYPE_UNSPECIFIED: TemplateParameter.Type
    TEXT: TemplateParameter.Type
    CURRENCY: TemplateParameter.Type
    DATE_TIME: TemplateParameter.Type
    IMAGE: TemplateParameter.Type
    DOCUMENT: TemplateParameter.Type
    VIDEO: TemplateParameter.Type
    PAYLOAD: TemplateParameter.Type
    COUPON_CODE: TemplateParameter.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    DATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    type: TemplateParameter.Type
    parameter_name: str
    text: str
    currency: TemplateCurrency
    date_time: TemplateDateTime
    media: TemplateMedia
    payload: str
    coupon_code: str
    def __init__(self, type: _Optional[_Union[TemplateParameter.Type, str]] = ..., parameter_name: _Optional[str] = ..., text: _Optional[str] = ..., currency: _Optional[_Union[TemplateCurrency, _Mapping]] = ..., date_time: _Optional[_Union[TemplateDateTime, _Mapping]] = ..., media: _Optional[_Union[TemplateMedia, _Mapping]] = ..., payload: _Optional[str] = ..., coupon_code: _Optional[str] = ...) -> None: ...

class TemplateCurrency(_message.Message):
    __slots__ = ("fallback_value", "code", "amount_1000")
    FALLBACK_VALUE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_1000_FIELD_NUMBER: _ClassVar[int]
    fallback_value: str
    code: str
    amount_1000: int
    def __init__(self, fallback_value: _Optional[str] = ..., code: _Optional[str] = ..., amount_1000: _Optional[int] = ...) -> None: ...

class TemplateDateTime(_message.Message):
    __slots__ = ("fallback_value",)
    FALLBACK_VALUE_FIELD_NUMBER: _ClassVar[int]
    fallback_value: str
    def __init__(self, fallback_value: _Optional[str] = ...) -> None: ...

class TemplateMedia(_message.Message):
    __slots__ = ("link", "filename")
    LINK_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    link: str
    filename: str
    def __init__(self, link: _Optional[str] = ..., filename: _Optional[str] = ...) -> None: ...

class ApprovedTemplate(_message.Message):
    __slots__ = ("id", "name", "language", "category", "status", "parameter_format", "components")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_FORMAT_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    language: str
    category: str
    status: str
    parameter_format: str
    components: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., language: _Optional[str] = ..., category: _Optional[str] = ..., status: _Optional[str] = ..., parameter_format: _Optional[str] = ..., components: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ("profile_id",)
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    def __init__(self, profile_id: _Optional[str] = ...) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates",)
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[ApprovedTemplate]
    def __init__(self, templates: _Optional[_Iterable[_Union[ApprovedTemplate, _Mapping]]] = ...) -> None: ...
