"""TemplateService: the approved WhatsApp templates of a profile, read through its live engine on the engine host
(EngineHostService.ChatCall `list_templates`): Meta's Graph API for `cloudapi`, the simulated catalogue for the
simulator. Sending one is MessageService.SendTemplate."""

from __future__ import annotations

import grpc
from google.protobuf import json_format

from server.api.services.chat_calls import chat_call
from server.api.services.profiles import acting_profile
from server.core.engine_specs import LIST_TEMPLATES
from wagw.v1 import templates_pb2, templates_pb2_grpc


class TemplateServicer(templates_pb2_grpc.TemplateServiceServicer):
    def ListTemplates(self, request: templates_pb2.ListTemplatesRequest, context: grpc.ServicerContext
                      ) -> templates_pb2.ListTemplatesResponse:
        profile = acting_profile(request.profile_id, LIST_TEMPLATES)
        answer = chat_call(profile, LIST_TEMPLATES)
        return templates_pb2.ListTemplatesResponse(templates=[
            json_format.ParseDict(item, templates_pb2.ApprovedTemplate(), ignore_unknown_fields=True)
            for item in answer.get("templates", ())])
