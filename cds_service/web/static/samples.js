/* Sample draft orders for the order-select and order-sign hooks of the demo page.
 * Each builder takes the patient id and returns one draft FHIR R4 resource. */
(function () {
  "use strict";
  var RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm";
  var UCUM = "http://unitsofmeasure.org";

  function medication(id, patientId, code, display, doseMg, text) {
    return {
      resourceType: "MedicationRequest", id: id, status: "draft", intent: "order",
      subject: { reference: "Patient/" + patientId },
      medicationCodeableConcept: {
        coding: [{ system: RXNORM, code: code, display: display }], text: display
      },
      dosageInstruction: [{
        text: text,
        timing: { repeat: { frequency: 1, period: 1, periodUnit: "d" } },
        doseAndRate: [{ doseQuantity: { value: doseMg, unit: "mg", system: UCUM, code: "mg" } }]
      }]
    };
  }

  window.VteSamples = [
    {
      key: "lenalidomide", label: { en: "Lenalidomide 25 mg daily", zh: "来那度胺 25 mg 每日" },
      build: function (pid) {
        return medication("ui-draft-lenalidomide", pid, "643720",
          "lenalidomide 25 MG Oral Capsule", 25, "25 mg by mouth once daily");
      }
    },
    {
      key: "aspirin", label: { en: "Aspirin 81 mg daily", zh: "阿司匹林 81 mg 每日" },
      build: function (pid) {
        return medication("ui-draft-aspirin", pid, "243670", "aspirin 81 MG Oral Tablet", 81,
          "81 mg by mouth once daily");
      }
    },
    {
      key: "rivaroxaban", label: { en: "Rivaroxaban 10 mg daily", zh: "利伐沙班 10 mg 每日" },
      build: function (pid) {
        return medication("ui-draft-rivaroxaban", pid, "1114198",
          "rivaroxaban 10 MG Oral Tablet", 10, "10 mg by mouth once daily");
      }
    },
    {
      key: "ivc-filter", label: { en: "IVC filter placement", zh: "下腔静脉滤器置入" },
      build: function (pid) {
        return {
          resourceType: "ServiceRequest", id: "ui-draft-ivc-filter", status: "draft",
          intent: "order", subject: { reference: "Patient/" + pid },
          code: {
            coding: [{ system: "http://www.ama-assn.org/go/cpt", code: "37191" }],
            text: "IVC filter placement"
          }
        };
      }
    }
  ];
}());
