"""Which deprecated fields, arguments, input fields and enum values a document uses.

graphql-core's NoDeprecatedCustomRule crashes on a client schema for arguments (it reads
`argument.deprecation_reason` through a definition the client schema leaves None), so this
walks the document with TypeInfo itself. Deprecated parts are what the next versions remove.
"""
from __future__ import annotations

from graphql import (
    ArgumentNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLSchema,
    ObjectFieldNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    visit,
)


class _DeprecationCollector(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: list[str] = []
        self._field_names: list[str] = []

    def _check_field(self, node: FieldNode) -> None:
        field = self.type_info.get_field_def()
        parent = self.type_info.get_parent_type()
        if field is not None and field.deprecation_reason:
            self.found.append(f"field {parent.name}.{node.name.value}: {field.deprecation_reason}")

    def enter_field(self, node: FieldNode, *_args) -> None:
        self._field_names.append(node.name.value)
        self._check_field(node)

    def leave_field(self, node: FieldNode, *_args) -> None:
        self._field_names.pop()

    def enter_argument(self, node: ArgumentNode, *_args) -> None:
        argument = self.type_info.get_argument()
        if argument is not None and getattr(argument, "deprecation_reason", None):
            directive = self.type_info.get_directive()
            owner = f"@{directive.name}" if directive is not None else (self._field_names[-1] if self._field_names else "?")
            self.found.append(f"argument {owner}({node.name.value}:): {argument.deprecation_reason}")

    def enter_object_field(self, node: ObjectFieldNode, *_args) -> None:
        parent = get_named_type(self.type_info.get_parent_input_type())
        if isinstance(parent, GraphQLInputObjectType):
            input_field = parent.fields.get(node.name.value)
            if input_field is not None and getattr(input_field, "deprecation_reason", None):
                self.found.append(f"input field {parent.name}.{node.name.value}: {input_field.deprecation_reason}")

    def enter_enum_value(self, node: EnumValueNode, *_args) -> None:
        enum = get_named_type(self.type_info.get_input_type())
        if isinstance(enum, GraphQLEnumType):
            value = enum.values.get(node.value)
            if value is not None and value.deprecation_reason:
                self.found.append(f"enum value {enum.name}.{node.value}: {value.deprecation_reason}")


def deprecated_usages(schema: GraphQLSchema, document: DocumentNode) -> list[str]:
    """Every deprecated schema element the document selects or passes literally, described."""
    type_info = TypeInfo(schema)
    collector = _DeprecationCollector(type_info)
    visit(document, TypeInfoVisitor(type_info, collector))
    return collector.found


def deprecated_variable_types(schema: GraphQLSchema, input_type_name: str) -> dict[str, str]:
    """Deprecated input fields of an input type (values sent in variables are not in the document)."""
    input_type = schema.get_type(input_type_name)
    if not isinstance(input_type, GraphQLInputObjectType):
        return {}
    return {name: field.deprecation_reason for name, field in input_type.fields.items() if getattr(field, "deprecation_reason", None)}
